// Package audit keeps kmsd's audit trail: one CloudTrail-format record per
// request, appended to a local JSON-lines file by a single group-commit
// writer, hash-chained and periodically sealed by signed digests, so that
// Verify finds an edited, deleted, inserted or reordered record, or a
// truncated or emptied file, even after the chain was recomputed.
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
// files. Beside the log, <path>.head (replaced atomically at most every
// Options.HeadInterval after a batch, and at Close) records the first seq
// and prev of the current file and the seq and hash of its last durable
// record, so removing whole lines from either end of the file is detected
// too, as long as the head file is there: it is no more protected than the
// log, which is what signed digests are for.
//
// # Crashes and rotation
//
// A crash can leave a torn last line (no trailing newline). OpenFile cuts it
// away, because its batch was never acknowledged, and reports the number of
// bytes removed through Options.Logger and (*Log).Stats. If the file is
// renamed or deleted while the Log runs (log rotation), the writer notices
// before its next batch or digest and creates a fresh file whose first
// record continues the chain. A moved-away file has no head file of its
// own; Verify checks its inside, and its Report.LastHash equals the next
// file's Report.FirstPrev.
//
// # Signed digests
//
// The chain uses no key: anyone who can write the log directory can edit a
// record and recompute every hash after it, and the head file with them.
// With Options.Signer the writer also signs digests of the chain, as
// CloudTrail's log file integrity validation does, into <path>.digests,
// one JSON object per line. A digest is written every
// Options.DigestInterval while records arrive, every
// Options.DigestIdleInterval when none did (so a quiet trail is told apart
// from a stopped one), and at Close when records are not yet covered. The
// signing key never touches disk here: the caller passes a crypto.Signer
// (an ed25519.PrivateKey it keeps sealed, or an HSM's signer), and its
// public key is added to <path>.digest-public.pem (PEM "PUBLIC KEY",
// PKIX; older keys stay). An auditor should take the public key from a
// trusted copy, not from beside the log.
//
// A digest line is the JSON object below, members in this order, with a
// last member "signature" added as the chain member is added to records:
//
//	{"kmsdDigestVersion":1,
//	 "digestSeq":D,                      1, 2, 3, … without a gap
//	 "digestStartTime":"…Z",             the previous digest's digestEndTime
//	 "digestEndTime":"…Z",               when it was written (UTC, seconds)
//	 "oldestEventTime":"…Z"|null,        eventTime range of its records,
//	 "newestEventTime":"…Z"|null,        null when it covers none
//	 "firstSeq":F,"lastSeq":L,           the records it covers: F = previous
//	                                     lastSeq + 1 (1 for digest 1), L ≥ F-1
//	 "fileFirstSeq":S,                   seq of the first record of the log
//	                                     file current when it was written
//	                                     (L+1 while that file holds none)
//	 "chainHash":"<64 hex>",             hash_L of the chain (zeros if L = 0)
//	 "previousDigestHash":"<64 hex>"|null,      of digest D-1 (null for D=1)
//	 "previousDigestSignature":"<hex>"|null,    of digest D-1
//	 "digestPublicKeyFingerprint":"<64 hex>",   SHA-256 of the key's PKIX DER
//	 "digestSignatureAlgorithm":"Ed25519"|"SHA256withECDSA",
//	 "signature":"<hex>"}
//
// With body_D the line's bytes before `,"signature":"` followed by a single
// `}`, the digest's hash is SHA-256(body_D) and its signature is over the
// message M = "kmsd-audit-digest-v1\n" || body_D: Ed25519 signs M itself;
// SHA256withECDSA (P-256) signs SHA-256(M), ASN.1 DER encoded.
//
// Because hash_L commits to every record up to L, a valid digest pins all
// of them: a record edited and re-chained no longer meets chainHash at the
// next digest. A verifier (Verify, `kmsd audit verify --public-key`)
// checks, naming the file and line of the first failure:
//   - every digest verifies under a given key with its fingerprint, and
//     follows the one before it: digestSeq, previousDigestHash,
//     previousDigestSignature, digestStartTime and firstSeq all continue it;
//   - every record whose seq is some digest's lastSeq has its chainHash;
//     a digest whose lastSeq is just before the file's first record
//     matches that record's prev;
//   - the file starts at the fileFirstSeq of every digest ending in it (or
//     records were removed from its start), and the first digest ending
//     after it says a newer file starts right after its last record (or
//     records were removed from its end); an empty file is accepted only
//     if the newest digest says its file holds no records.
//
// Records newer than the newest digest are not yet signed; Report.
// SignedThrough says how far the signature reaches.
//
// # Anchor
//
// Deleting the end of the log together with the end of the digests file
// leaves nothing in the directory to contradict it. Options.Anchor keeps,
// outside the directory (the server's store), the newest digest's
// position: an AnchorState with its digestSeq, hash and signature and its
// lastSeq and chainHash, saved after every digest is durable. OpenFile
// refuses a log that ends before the anchor's lastSeq (or differs at it)
// and a digests file that ends before its digest; Verify with
// VerifyOptions.Anchor reports the same. FileAnchor keeps one in a file.
//
// What remains unprotected is the window since the newest digest: records
// written after it can be cut away or edited unseen until the next
// digest, at most Options.DigestInterval later (CloudTrail's window is an
// hour). The digests file is never rotated: it grows by one short line a
// minute at most, and verification needs it whole from digest 1.
package audit
