// Package postgres is kmsd's shared store: a store.Store kept in one
// PostgreSQL table, so that several kmsd nodes can serve the same data.
//
// Every record is a row (bucket bytea, key bytea, value bytea) with primary
// key (bucket, key). bytea compares bytewise, so the primary key's index
// gives Scan the same ascending byte order as the embedded store, and a
// bucket exists exactly while it has rows. Open creates the table if it is
// missing, and records the schema's version in a one-row table beside it; a
// database written by a newer kmsd is refused. Connections pick the tables'
// schema with their search_path (a DSN parameter), so several stores can
// share one database.
//
// Update runs at SERIALIZABLE. A transaction that loses a serialization race
// (SQLSTATE 40001) or a deadlock (40P01) in any statement, including its
// commit, is rolled back and its fn run again after a jittered, growing
// pause; after maxAttempts tries Update fails with store.ErrConflict. The
// same serialization failure is caught even when fn swallowed or replaced
// the Tx's error, because a transaction that saw one can never commit.
//
// View runs at SERIALIZABLE READ ONLY DEFERRABLE: PostgreSQL waits, at the
// View's first read, for a snapshot that no running writer can still
// invalidate, and then reads it without predicate locks and without ever
// failing a serialization check. REPEATABLE READ would start sooner but
// could show a state that no serial order of the Updates ever produced (the
// read-only anomaly of snapshot isolation); the embedded store never does,
// and code above the store relies on that. SERIALIZABLE READ ONLY without
// DEFERRABLE would be serializable too, but its predicate locks would make
// Updates fail and retry because of concurrent readers. The wait is bounded
// by the Updates running when the View starts, which are short.
//
// Nothing is cached in the process: every Get and Scan reads the database,
// so Views on one node see every Update committed by any node before they
// began.
//
// When PostgreSQL cannot be reached (down, restarting, refusing
// connections, failing over), operations fail with an error wrapping
// store.ErrUnavailable. A connection attempt is bounded by the DSN's
// connect_timeout, defaultConnectTimeout when it sets none. The same Store
// works again once the server is back, without being reopened. A
// transaction whose connection broke before its commit was sent is retried
// once, after the pool drops every idle connection: a server that closed one
// (a restart, a failover) has closed them all. A commit whose answer was
// lost is not retried, as it may have been applied, and fails with
// store.ErrUnavailable.
package postgres
