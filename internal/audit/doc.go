// Package audit keeps kmsd's audit trail: one CloudTrail-format record per
// request, appended to a local JSON-lines file by a single group-commit
// writer, hash-chained so that an edited, deleted, inserted or reordered
// record, or a truncated tail, is found by VerifyFile.
//
// # Records
//
// Event mirrors a CloudTrail KMS event field for field and marshals with
// CloudTrail's names. The package never looks inside RequestParameters,
// ResponseElements or AdditionalEventData: callers pass maps that already
// leave out plaintext, ciphertext, key material and grant tokens.
//
// # Writing
//
// OpenFile starts one writer goroutine per file. Append marshals the record
// on the caller's goroutine and hands it to the writer through a bounded
// channel; the writer drains up to Options.MaxBatch records, writes them
// with one write, fsyncs once, updates the head file and then acknowledges.
// With Options.FailClosed, Append waits for that acknowledgement and
// returns the write or fsync error, so a caller can refuse to answer a
// request it could not audit. Every wait in Append is bounded by
// Options.Timeout.
//
// # The chain
//
// Every line is the record's JSON object with one extra top-level member,
// added last:
//
//	"kmsdChain":{"seq":N,"prev":"<64 hex>","hash":"<64 hex>"}
//
// CloudTrail consumers ignore the unknown member. With body_N the line's
// bytes with that member removed (the bytes before `,"kmsdChain":` followed
// by a single `}`, which is exactly the record's JSON encoding):
//
//	hash_N = SHA-256(prev_N || uint64_big_endian(N) || body_N)
//	prev_N = hash_(N-1), and prev_1 = 32 zero bytes
//
// seq starts at 1 and grows by one per record, across reopened and rotated
// files. Beside the log, <path>.head (replaced atomically after every batch)
// records the first seq and prev of the current file and the seq and hash of
// its last durable record, so removing whole lines from either end of the
// file is detected too.
//
// # Crashes and rotation
//
// A crash can leave a torn last line (no trailing newline). OpenFile cuts it
// away, because its batch was never acknowledged, and reports the number of
// bytes removed through Options.Logger and (*Log).Stats. If the file is
// renamed or deleted while the Log runs (log rotation), the writer notices
// before its next batch and creates a fresh file whose first record
// continues the chain. Until that batch, the head file still describes the
// file that was moved away, so VerifyFile on the new path fails in that
// window. A moved-away file has no head file of its own; VerifyFile checks
// its inside, and its Report.LastHash equals the next file's
// Report.FirstPrev.
//
// The chain uses no key: it finds accidental damage and naive edits, not a
// forger who rewrites the whole file and its head. Signed digests of the
// chain head are the defence against that.
package audit
