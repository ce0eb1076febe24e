package outbox

import (
	"context"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/store"
)

// Several nodes sharing one store share its outbox, but each knows only
// its own requests in flight: an entry this node does not know may be one
// another node is finishing right now. So a node of a cluster ships
// another's entries only once they are older than a grace period that
// outlasts any request (ShipOlder, run by one node, the jobs' leader), and
// at start only drops the entries its own log already holds (DropDelivered).
//
// Shipping appends the record to the shipping node's log, then deletes the
// entry: at least once. A record is shipped twice only when a node finishes
// an entry later than the grace period (it then appears in both logs, with
// the same eventID, the copy marked recovered) or when the shipper dies
// between the append and the delete (the next shipper appends it again).
// It is never lost.

// ShipOlder ships, marked as recovered, the entries that no request of this
// node is finishing and whose record's eventTime is before cutoff, and
// deletes them. It returns how many it shipped.
func (o *Outbox) ShipOlder(ctx context.Context, cutoff time.Time) (int, error) {
	kvs, err := o.stranded(ctx)
	if err != nil {
		return 0, err
	}
	old := kvs[:0]
	for _, kv := range kvs {
		var ev audit.Event
		if err := ev.UnmarshalJSON(kv.Value); err == nil && !ev.EventTime.Before(cutoff) {
			continue
		}
		old = append(old, kv) // ship logs and keeps one it cannot read
	}
	return o.ship(ctx, old)
}

// DropDelivered deletes the entries whose record the log already holds
// (the process died between the log's fsync and the entry's delete), and
// ships nothing: the others may belong to requests other nodes are
// finishing. inLog is as for Recover. It returns how many it deleted.
func (o *Outbox) DropDelivered(ctx context.Context, inLog func(ids map[string]bool, since time.Time) error) (int, error) {
	kvs, ids, err := o.strandedInLog(ctx, inLog)
	if err != nil || len(kvs) == 0 {
		return 0, err
	}
	var found [][]byte
	for _, kv := range kvs {
		if ids[string(kv.Key)] {
			found = append(found, kv.Key)
		}
	}
	if len(found) == 0 {
		return 0, nil
	}
	err = o.st.Update(ctx, func(tx store.Tx) error {
		for _, id := range found {
			if err := tx.Delete(bucket, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(found), nil
}
