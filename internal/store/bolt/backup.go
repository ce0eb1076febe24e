package bolt

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole store, as one read
// transaction sees it, while writers go on: the copy is itself a bbolt
// file that Open accepts. begin is told the copy's size in bytes before the
// first byte and returns where to write it. The copy stops when ctx ends.
// Like any long View, a backup delays a writer that must grow the file.
func (s *Store) Backup(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		w, err := begin(tx.Size())
		if err != nil {
			return err
		}
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil && ctx.Err() != nil {
		// bbolt flattens the writer's error into text.
		return n, fmt.Errorf("backup stopped: %w", ctx.Err())
	}
	return n, err
}

// ctxWriter stops a copy whose caller has gone.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// maxProblems bounds how many of bbolt's findings an error lists.
const maxProblems = 10

// Check runs bbolt's consistency check over every page (each page reached
// once, none both in use and free, keys in order) on a read-only snapshot,
// and returns a *CorruptError listing what it found. Run it with no
// writer at work (before serving, or on a store opened read-only): on a
// read-only transaction bbolt reads the freelist a writer may be changing.
func (s *Store) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		var problems []string
		n := 0
		for err := range tx.Check() { // drained whole: the checker blocks on it
			if n++; n <= maxProblems {
				problems = append(problems, err.Error())
			}
		}
		if n == 0 {
			return nil
		}
		if n > maxProblems {
			problems = append(problems, fmt.Sprintf("and %d more", n-maxProblems))
		}
		return &CorruptError{Path: s.db.Path(), Problem: "bbolt's consistency check found: " + strings.Join(problems, "; ")}
	})
}

// Pages returns the number of pages in use and the page size.
func (s *Store) Pages(ctx context.Context) (pages int64, pageSize int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		pageSize = s.db.Info().PageSize
		pages = tx.Size() / int64(pageSize)
		return nil
	})
	return pages, pageSize, err
}

// Note is what Open noticed about a file it still accepted (a damaged
// header page that bbolt reads around), or "".
func (s *Store) Note() string { return s.note }

// Path is the data file's path.
func (s *Store) Path() string { return s.db.Path() }
