// Package bolt is kmsd's embedded store: a store.Store kept in a single bbolt
// file, used by `kmsd dev` and by single-node deployments.
//
// Every bucket of the store is a top-level bbolt bucket, created by the first
// Put into it. View runs on a read-only bbolt snapshot (MVCC, never blocked
// by writers). Update runs inside bbolt's single writer transaction and
// returns only after that transaction is committed with fsync; Updates that
// arrive while one commits share the next transaction (group commit), each
// fn run once in turn with an undo log (none when it is alone), so one that
// fails leaves no write and the others still commit. Because writers run one at a time, Updates
// never conflict and never need retrying: store.ErrConflict is not returned
// by this package, and an Update's fn runs exactly once.
//
// The writer lock is not reentrant: an Update's fn must not call Update on
// the same Store, or it deadlocks. A View that stays open while the file
// grows delays the writer that grows it, since bbolt cannot remap the file
// under an open reader; keep Views short.
//
// Values handed to and returned by a Tx are always copies, so callers never
// hold memory that aliases bbolt's read-only mmap or its dirty pages.
//
// The file is locked against other processes while open; Open gives up after
// a short wait instead of hanging behind a second kmsd on the same data.
//
// bbolt trusts its file: a page id or an offset read from a damaged file
// becomes a pointer into the memory map, and following it can kill the
// process with a fault no recover catches. So Open, holding the lock,
// first walks the file's structure with plain reads (header pages, the
// pages in use against the file's length, every tree page, element and
// inline bucket, the freelist) and refuses a damaged file with a
// *CorruptError that names it and the damage; an existing empty file is
// refused too, instead of being made a new store. Check then runs bbolt's
// own consistency check, and Backup copies a consistent snapshot with
// Tx.WriteTo while writers go on.
package bolt
