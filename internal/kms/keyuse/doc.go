// Package keyuse keeps each key's last cryptographic use, what
// GetKeyLastUsage reports. A Tracker records a use in memory, under one of
// 64 locks, so the request path writes nothing to disk; Flush, run by the
// background jobs and once more at shutdown, writes the uses recorded since
// its previous run to the store, in place (BucketLastUsage) or, when they
// are many, as runs (runs.go) that Merge later writes in place.
//
// A key is named by its store key (partition | key id): the key under
// which the owner's keys bucket (Config.Keys) holds it.
//
// Precision lost on a crash: the uses recorded since the last flush (at
// most one jobs interval, a minute by default). After the restart LastUse
// reports the last use flushed before the crash, or none, until the key is
// used again. CloudTrail (the audit log) keeps every call.
package keyuse
