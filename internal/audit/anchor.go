package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// AnchorState is the newest signed digest's position, kept outside the log
// directory so that removing the end of the log or of the digests file
// together is still found. The zero value means nothing has been anchored.
type AnchorState struct {
	DigestSeq       uint64 `json:"digestSeq"`       // the digest's digestSeq
	DigestHash      string `json:"digestHash"`      // hex SHA-256 of its signed body
	DigestSignature string `json:"digestSignature"` // hex signature
	LastSeq         uint64 `json:"lastSeq"`         // last record seq it covers
	ChainHash       string `json:"chainHash"`       // hex chain hash of that record
	DigestEndTime   string `json:"digestEndTime"`   // its digestEndTime
}

// IsZero reports whether s anchors nothing.
func (s AnchorState) IsZero() bool { return s == AnchorState{} }

// check validates the encoding of a loaded anchor.
func (s AnchorState) check() error {
	if s.IsZero() {
		return nil
	}
	var h [hashSize]byte
	if s.DigestSeq > 0 {
		if err := decodeHash(s.DigestHash, &h); err != nil {
			return fmt.Errorf("anchor digestHash: %w", err)
		}
	}
	if err := decodeHash(s.ChainHash, &h); err != nil {
		return fmt.Errorf("anchor chainHash: %w", err)
	}
	return nil
}

// Anchor keeps an AnchorState somewhere a writer of the log directory
// cannot rewrite with it, such as the server's transactional store.
//
// OpenFile calls Load once. The writer calls Save after every digest has
// been fsynced to the digests file, from the writer goroutine, with the
// state of that digest, which is always newer than the one saved before.
// Save must be durable when it returns nil, must not call into the Log,
// and should honour ctx (bounded by Options.Timeout). A failed Save is
// logged, counted in Stats.AnchorFailed and reported by Health; the next
// digest saves the newer state.
type Anchor interface {
	// Load returns the saved state, or the zero AnchorState if none.
	Load(ctx context.Context) (AnchorState, error)
	// Save replaces the saved state.
	Save(ctx context.Context, s AnchorState) error
}

// FileAnchor keeps the anchor in a JSON file, replaced atomically. Put it
// on another volume or host than the log; within the log directory it
// adds nothing.
type FileAnchor struct{ Path string }

// Load reads the anchor file; a missing file is the zero state.
func (a FileAnchor) Load(context.Context) (AnchorState, error) {
	var s AnchorState
	b, err := os.ReadFile(a.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("anchor file %s: %w", a.Path, err)
	}
	if err := s.check(); err != nil {
		return s, fmt.Errorf("anchor file %s: %w", a.Path, err)
	}
	return s, nil
}

// Save replaces the anchor file atomically and durably.
func (a FileAnchor) Save(_ context.Context, s AnchorState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return replaceFile(a.Path, append(b, '\n'), 0o600, true)
}
