// Package cluster lets several kmsd nodes serve one PostgreSQL store as one
// KMS: it keeps each node's in-memory caches coherent with the writes of
// every other node, and elects the one node that runs the background jobs.
//
// Coherence. Store wraps the shared store: every transaction that writes a
// record some cache holds queues, inside the same transaction, a
// notification naming the cache entries it makes stale (pg_notify), so
// PostgreSQL delivers it to every node exactly when the write commits and
// never when it does not. Notifier listens on a connection of its own and
// drops the named entries as notifications arrive. It also proves, with a
// round trip every Heartbeat, that its connection still delivers; caches
// serve an entry only within Window of the last proof. So a committed write
// stops being served stale by every node within the notification's
// delivery time (milliseconds), and within Window even when a connection
// dies silently. When the connection is lost the caches are flushed and
// bypassed (every request reads the store, which answers with the current
// state or fails), and flushed again once listening resumes, since
// notifications sent meanwhile were missed.
//
// Leadership. Lease holds a PostgreSQL advisory lock on a connection of its
// own. PostgreSQL releases it when that session ends (the node stopped,
// crashed or lost the network), and another node takes it at its next
// attempt. A leader checks its session every Check; a new leader waits
// Takeover before it starts, so a leader that lost its session has stopped
// its jobs before the next one starts them.
package cluster
