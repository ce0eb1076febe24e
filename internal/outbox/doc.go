// Package outbox makes a state change and its audit record one atomic step.
//
// A request that changes state carries an Entry in its context. Every store
// transaction it commits through Store also writes the Entry's record into
// the store's outbox bucket, in the same transaction: a change never
// commits without a durable record of it. Once the request's final record
// is durable in the audit log, the outbox entry is deleted (piggybacked on
// the next transaction, or by Flush when the server is idle). An entry that
// outlives its request — the log refused the record, or the process died
// between the commit and the log's fsync — is shipped to the log by Ship,
// marked as recovered; Recover does this at start, skipping entries whose
// record already reached the log.
package outbox
