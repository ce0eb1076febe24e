package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kmsd/kmsd/internal/store"
)

var (
	bucket = []byte("store-schema")
	key    = []byte("version")
)

// Base is the version of a store that records none.
const Base = 1

type record struct {
	Version   int    `json:"version"`
	WrittenBy string `json:"writtenBy"` // the kmsd release that recorded it
}

// Migration takes a store from version To-1 to To.
type Migration struct {
	To    int
	Name  string // what it changes, for the log
	Apply func(ctx context.Context, tx store.Tx) error
}

// Plan is what one kmsd release knows: the version it writes and the
// migrations that lead there from Base, in order.
type Plan struct {
	Current    int
	Migrations []Migration
	Release    string // recorded with each version this kmsd writes
}

// Result says what Migrate found and did.
type Result struct {
	From, To int
	Applied  []string // names of the migrations applied, in order
}

// TooNewError refuses a store written by a kmsd that knows a newer layout.
type TooNewError struct {
	Found     int
	WrittenBy string
	Supported int
	Release   string
}

func (e *TooNewError) Error() string {
	by := ""
	if e.WrittenBy != "" {
		by = " (written by kmsd " + e.WrittenBy + ")"
	}
	return fmt.Sprintf("the store has schema version %d%s, but this kmsd %s reads schema versions up to %d: run a kmsd release that reads version %d, or restore a backup taken with this release",
		e.Found, by, e.Release, e.Supported, e.Found)
}

// Read returns the version st records (Base when it records none) and the
// release that recorded it.
func Read(ctx context.Context, st store.Store) (version int, writtenBy string, err error) {
	r, _, err := readView(ctx, st)
	return r.Version, r.WrittenBy, err
}

func readView(ctx context.Context, st store.Store) (r record, found bool, err error) {
	err = st.View(ctx, func(tx store.Tx) error {
		r, found, err = read(tx)
		return err
	})
	return r, found, err
}

func read(tx store.Tx) (record, bool, error) {
	b, err := tx.Get(bucket, key)
	if errors.Is(err, store.ErrNotFound) {
		return record{Version: Base}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.Version < Base {
		return record{}, false, fmt.Errorf("the store's schema version record is unreadable: %q", b)
	}
	return r, true, nil
}

func write(tx store.Tx, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, b)
}

// Check returns a *TooNewError for a store this plan cannot read, and
// otherwise the version it records.
func (p Plan) Check(ctx context.Context, st store.Store) (int, error) {
	r, _, err := p.check(ctx, st)
	return r.Version, err
}

func (p Plan) check(ctx context.Context, st store.Store) (record, bool, error) {
	r, found, err := readView(ctx, st)
	if err == nil && r.Version > p.Current {
		err = &TooNewError{Found: r.Version, WrittenBy: r.WrittenBy, Supported: p.Current, Release: p.Release}
	}
	return r, found, err
}

// Migrate brings st to p.Current, one migration per transaction, and
// records the version in a store that records none. A store newer than
// p.Current is refused with a *TooNewError and left unchanged.
func (p Plan) Migrate(ctx context.Context, st store.Store) (Result, error) {
	if err := p.validate(); err != nil {
		return Result{}, err
	}
	r, found, err := p.check(ctx, st)
	if err != nil {
		return Result{}, err
	}
	res := Result{From: r.Version, To: r.Version}
	for _, m := range p.Migrations[r.Version-Base:] {
		applied := false
		err := st.Update(ctx, func(tx store.Tx) error {
			r, _, err := read(tx)
			if err != nil || r.Version >= m.To { // another node got there first
				applied = false
				return err
			}
			if err := m.Apply(ctx, tx); err != nil {
				return err
			}
			applied = true
			return write(tx, record{Version: m.To, WrittenBy: p.Release})
		})
		if err != nil {
			return res, fmt.Errorf("migrate the store from schema version %d to %d (%s): %w", m.To-1, m.To, m.Name, err)
		}
		res.To = m.To
		if applied {
			res.Applied = append(res.Applied, m.Name)
		}
	}
	if found || len(res.Applied) > 0 {
		return res, nil
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		_, found, err := read(tx)
		if err != nil || found {
			return err
		}
		return write(tx, record{Version: p.Current, WrittenBy: p.Release})
	})
	return res, err
}

// validate catches a plan whose migrations do not lead, step by step, from
// Base to Current: a mistake in kmsd itself, refused before any change.
func (p Plan) validate() error {
	if p.Current != Base+len(p.Migrations) {
		return fmt.Errorf("schema plan: version %d with %d migrations from version %d", p.Current, len(p.Migrations), Base)
	}
	for i, m := range p.Migrations {
		if m.To != Base+1+i || m.Apply == nil {
			return fmt.Errorf("schema plan: migration %d (%s) leads to version %d, want %d", i, m.Name, m.To, Base+1+i)
		}
	}
	return nil
}
