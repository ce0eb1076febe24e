package kms

import (
	"context"
	"fmt"
	"reflect"
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

// TestOperationsAnswerAtCommit: every operation that changes state and
// answers with something settles its answer inside the transaction that
// commits the change, so the record the outbox keeps (built at that
// commit) shows the responseElements the caller gets. Before, only the
// request was known at commit, and a record shipped from the outbox had
// no responseElements.
func TestOperationsAnswerAtCommit(t *testing.T) {
	h := newHarness(t)
	box := outbox.New(h.st, discardLog{}, nil)
	h.svc = h.service(box.Store(), Limits{})
	ctx := context.Background()
	sym := h.createKey()
	external := h.createExternal(specSymmetric, usageEncryptDecrypt)
	material := random(32)
	imported := h.importInput(external, "RSAES_OAEP_SHA_256", material)
	mrk, err := h.svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{MultiRegion: kmsapi.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		run  func(context.Context, *Call) (Answer, error)
	}{
		{"CreateKey", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.CreateKey(ctx, c, &kmsapi.CreateKeyInput{Description: "answered at commit"})
		}},
		{"CreateKey EXTERNAL", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.CreateKey(ctx, c, &kmsapi.CreateKeyInput{Origin: kmsapi.OriginType(originExternal)})
		}},
		{"CreateGrant", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.CreateGrant(ctx, c, &kmsapi.CreateGrantInput{KeyId: sym, GranteePrincipal: "arn:aws:iam::111122223333:root", Operations: []kmsapi.GrantOperation{"Decrypt"}})
		}},
		{"RotateKeyOnDemand", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.RotateKeyOnDemand(ctx, c, &kmsapi.RotateKeyOnDemandInput{KeyId: sym})
		}},
		{"ImportKeyMaterial", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.ImportKeyMaterial(ctx, c, imported)
		}},
		{"DeleteImportedKeyMaterial", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.DeleteImportedKeyMaterial(ctx, c, &kmsapi.DeleteImportedKeyMaterialInput{KeyId: external})
		}},
		{"ReplicateKey", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.ReplicateKey(ctx, c, &kmsapi.ReplicateKeyInput{KeyId: mrk.KeyMetadata.KeyId, ReplicaRegion: "eu-west-1"})
		}},
		{"ScheduleKeyDeletion", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.ScheduleKeyDeletion(ctx, c, &kmsapi.ScheduleKeyDeletionInput{KeyId: sym, PendingWindowInDays: kmsapi.Int32(7)})
		}},
		{"CancelKeyDeletion", func(ctx context.Context, c *Call) (Answer, error) {
			return h.svc.CancelKeyDeletion(ctx, c, &kmsapi.CancelKeyDeletionInput{KeyId: sym})
		}},
	}
	for i, op := range ops {
		c := call()
		var atCommit map[string]any
		id := fmt.Sprintf("event-%d", i)
		e := outbox.NewEntry(id, func() *audit.Event {
			if a := c.Answer(); a != nil {
				atCommit = a.ResponseElements()
			}
			return &audit.Event{EventID: id, EventName: op.name}
		})
		out, err := op.run(outbox.With(ctx, e), c)
		if err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		if !e.Committed() {
			t.Fatalf("%s committed no record", op.name)
		}
		want := out.ResponseElements()
		if len(want) == 0 || !reflect.DeepEqual(atCommit, want) {
			t.Errorf("%s: responseElements at commit %v, answered %v", op.name, atCommit, want)
		}
	}
}
