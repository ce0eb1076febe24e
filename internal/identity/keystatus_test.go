package identity_test

import (
	"errors"
	"testing"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/secret"
)

// TestInactiveKeyResolvesToNothing checks that a cached credential stops
// resolving the moment its key is made inactive, comes back when it is
// made active, and that restarting with the same known key (as `kmsd dev
// --enforce` does for the root) does not re-enable it.
func TestInactiveKeyResolvesToNothing(t *testing.T) {
	e := newEnv(t)
	ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}))(t)
	k, _ := must2(t)(e.ids.IssueAccessKey(bg, acct, "alice"))
	ok(e.ids.Credential(bg, k.AccessKeyID))(t) // now cached

	if err := e.ids.UpdateAccessKey(bg, acct, "ALICE", k.AccessKeyID, identity.StatusInactive); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ids.Credential(bg, k.AccessKeyID); !errors.Is(err, identity.ErrUnknownAccessKey) {
		t.Fatalf("inactive key resolved: %v", err)
	}
	keys := ok(e.ids.ListAccessKeys(bg, acct, "alice"))(t)
	if len(keys) != 1 || keys[0].KeyStatus() != identity.StatusInactive {
		t.Fatalf("ListAccessKeys %+v", keys[0])
	}
	if err := e.ids.UpdateAccessKey(bg, acct, "alice", k.AccessKeyID, identity.StatusActive); err != nil {
		t.Fatal(err)
	}
	ok(e.ids.Credential(bg, k.AccessKeyID))(t)

	msg := wantCode(t, e.ids.UpdateAccessKey(bg, acct, "alice", k.AccessKeyID, "Expired"), identity.CodeValidation)
	if msg != "Value 'Expired' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]" {
		t.Errorf("message %q", msg)
	}
	wantCode(t, e.ids.UpdateAccessKey(bg, acct, "", k.AccessKeyID, identity.StatusInactive), identity.CodeNoSuchEntity)

	const root = "AKIAIOSFODNN7EXAMPLE"
	if err := e.ids.EnsureAccessKey(bg, acct, "", root, secret.Bytes("root-secret")); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.UpdateAccessKey(bg, acct, "", root, identity.StatusInactive); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.EnsureAccessKey(bg, acct, "", root, secret.Bytes("root-secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ids.Credential(bg, root); !errors.Is(err, identity.ErrUnknownAccessKey) {
		t.Fatalf("a restart re-enabled the root's inactive key: %v", err)
	}
}
