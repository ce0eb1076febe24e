// Package memory is a store.Store kept in process memory, for `kmsd dev
// --ephemeral`: nothing reaches the disk, and everything is gone when the
// process ends or the store is closed.
//
// It keeps the contract the other backends keep. The committed state is an
// immutable snapshot: a View reads the snapshot current when it starts,
// never blocks and is never blocked; Updates run one at a time on a private
// overlay of that snapshot and commit by publishing a new one, so they are
// serializable and never conflict. Only the buckets an Update wrote are
// copied when it commits. Values handed to and returned by a Tx are always
// copies.
package memory
