package main

import (
	"context"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/schema"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// A store from before keys were counted by state (no schema version
// recorded, no counts) is counted at the next start: kmsd_keys reports its
// 40 keys, and the store records the current schema.
func TestOlderStoreGetsItsKeysCounted(t *testing.T) {
	ctx := context.Background()
	data := populated(t)
	withStore(t, data, func(st *sealed.Store) {
		err := st.Update(ctx, func(tx store.Tx) error {
			kvs, err := tx.Scan([]byte("key-states"), nil, nil, 0)
			if err != nil {
				return err
			}
			if len(kvs) == 0 {
				t.Error("a store made by this kmsd holds no key-states counts")
			}
			for _, kv := range kvs {
				if err := tx.Delete([]byte("key-states"), kv.Key); err != nil {
					return err
				}
			}
			return tx.Delete([]byte("store-schema"), []byte("version"))
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	admin := freeAddr(t)
	p := startKMSD(t, "dev", "--data", data, "--admin-listen", admin)
	got := scrapeMetrics(t, "http://"+admin+"/metrics")
	if n := got[`kmsd_keys{state="Enabled"}`]; n != 40 {
		t.Errorf(`kmsd_keys{state="Enabled"} = %v after the migration, want 40`, n)
	}
	p.stop()
	withStore(t, data, func(st *sealed.Store) {
		if v, _, err := schema.Read(ctx, st); err != nil || v != storeSchema().Current {
			t.Errorf("schema version %d (%v), want %d", v, err, storeSchema().Current)
		}
	})
}
