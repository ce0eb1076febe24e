package kms

import (
	"context"
	"slices"
	"testing"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/outbox"
)

type discardLog struct{}

func (discardLog) Append(*audit.Event) error { return nil }

// TestCreateKeyNamesItsKeyAtCommit: the record the outbox keeps with a
// CreateKey is built at commit, and names the key made as the call's
// resource. Before, the key was added after the commit, so a record
// shipped from the outbox (its node died before logging it) did not say
// which key it created.
func TestCreateKeyNamesItsKeyAtCommit(t *testing.T) {
	h := newHarness(t)
	box := outbox.New(h.st, discardLog{}, nil)
	svc := h.service(box.Store(), Limits{})
	c := call()
	var atCommit []string
	e := outbox.NewEntry("event-1", func() *audit.Event {
		atCommit = slices.Clone(c.Resources)
		return &audit.Event{EventID: "event-1", EventName: "CreateKey"}
	})
	out, err := svc.CreateKey(outbox.With(context.Background(), e), c, &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(atCommit, []string{out.KeyMetadata.Arn}) {
		t.Fatalf("resources at commit %q, want the new key %s", atCommit, out.KeyMetadata.Arn)
	}
}
