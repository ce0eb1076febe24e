// Package auditindex finds records of the audit log by CloudTrail's lookup
// attributes without reading the log: it keeps an index in a bbolt file
// beside it, so that LookupEvents answers from a handful of page reads
// and one read of the log per event returned, whatever the log's size.
//
// # What is indexed
//
// Events are grouped by trail — the account (recipientAccountId) and
// Region (awsRegion) they belong to — and found by one attribute: every
// event of a trail, or its EventName, EventSource, ReadOnly ("true" or
// "false"), Username ("root", an IAM user's name, or an assumed role's
// session name), AccessKeyId, or a ResourceType or ResourceName (the ARN)
// of its resources; or by EventId. An event without an account is in no
// trail and is not found.
//
// # The file
//
// Four buckets. "postings" holds the events of each term — trail,
// attribute, value — in groups: one key per term, second (event time)
// and commit, be64(term hash) | be32(event time in Unix seconds) |
// be64(first seq), whose value lists the group's events in log order,
// each as its seq and where its line lies in the log (see keys.go). The
// term hash is the first 8 bytes of the SHA-256 of the term's key, so a
// record is indexed without looking any of its terms up: on a server of
// many keys most records name a resource of their own, whose term a
// table of term numbers had to be searched for, at a random place, and
// extended. Terms whose hashes collide share postings, an event once:
// a lookup keeps only the events that have its term, of its trail.
// A commit does not put its groups in "postings" but appends them to
// "recent" as a segment, keyed be32(segment) | the group's key: a record
// naming a resource of its own would otherwise cost a page rewritten at
// a random place of "postings". Once the segments hold a group for every
// 128 bytes of "postings", or number 64, a merge moves them into
// "postings" in key order, so a page it rewrites takes several groups;
// on a small index a commit's groups are that many, and go to "postings"
// at once (see segments.go). A lookup reads the term hash's groups in
// "postings" and in each segment from the last at or before its end time
// (or its page position) backwards, merges them newest first by time and
// seq, and reads each event from the log to check it has the term; a
// page says where the next starts only if an event follows it. KMS's
// event source, every kmsd event's, has no postings: a lookup by it walks
// the trail's and keeps the events of that source.
// "events" maps an event ID to its seq, time and location, keyed by 0
// and the ID's 16 bytes if it is a UUID in lower case, or 1 and the ID
// as written: the time-ordered (version 7) UUIDs kmsd makes sort as they
// are made, so the bucket grows at its end, and a commit whose IDs mostly
// come after the bucket's fills its pages to 90%, the rest left for the
// IDs of calls logged a little after later ones. Random IDs (of older
// logs, or from other tools) land anywhere, and split pages half full.
// "meta" holds the state: the file's version, the last record indexed
// (seq, chain hash, location), the next segment number, and the sizes
// the merge is decided by; while a merge is under way, the last key it
// moved: the segments keep their groups until the merge drops them all,
// and a lookup skips those up to it.
//
// # Following the log
//
// The log reports each batch once it is durable (audit.Options.Durable);
// the index copies it and one goroutine indexes the batches in one
// transaction per Options.CommitInterval, or at once when a lookup waits
// for them: a lookup first waits until the records durable when it
// started are indexed, so a caller finds the records of its own requests.
// A batch that does not continue the index exactly (the writer moved to a
// new file, or batches were dropped because the indexer fell more than
// Options.MaxQueue behind) makes the indexer read the log file instead.
//
// The indexer reads only the members of a record it needs: a record of
// the plain kind kmsd writes byte by byte, any other (escapes where it
// matters, invalid UTF-8, not JSON) with the JSON decoder, to the same
// effect. A term the record before had at the same place in its list
// is not hashed again. A commit lists the postings of each term hash as
// the records come, in log order, and sorts a list by time only if a
// record came after a later one; its puts come out in key order. With
// time-ordered event IDs, what a record costs to index does not grow
// with the index.
//
// The index is derived data: the log stays the record, and lookups read
// each event from it, checking that the line at the location holds the
// expected seq. At Start the index reads whatever records the log has
// beyond its last one; if that record is not where the index says (the
// log was rotated, truncated or replaced) the index is emptied and the
// current file indexed anew. Commits do not wait for an fsync: the file
// is flushed every Options.SyncInterval and at Close, and a marker file
// beside it says while it is not. A file that does not open, is of
// another version, or was not flushed when the process stopped is deleted
// and rebuilt. Records of a log file rotated away are no longer found.
//
// # Without a log file
//
// Records answers the same lookups over records held in memory (an
// ephemeral server's) by reading them all.
package auditindex
