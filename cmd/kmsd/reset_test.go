package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/secret"
)

// TestResetAllowedFrom checks who may reset a dev server: anyone without
// --enforce (every caller acts as the root anyway), and with it a caller
// on this machine; another machine needs a request signed by the root,
// which an unsigned request is not.
func TestResetAllowedFrom(t *testing.T) {
	for _, tc := range []struct {
		enforce bool
		peer    string
		ok      bool
	}{
		{false, "192.0.2.7:40000", true},
		{true, "127.0.0.1:40000", true},
		{true, "[::1]:40000", true},
		{true, "192.0.2.7:40000", false},
	} {
		cfg := defaultConfig()
		cfg.Enforce = tc.enforce
		r := newResetter(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, nil, nil)
		req := httptest.NewRequest("POST", "/kmsd/reset", strings.NewReader(""))
		req.RemoteAddr = tc.peer
		err := r.allowed(req, nil)
		if (err == nil) != tc.ok {
			t.Errorf("enforce %v, peer %s: %v, want allowed %v", tc.enforce, tc.peer, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "must be signed (SigV4, service kms) with the credentials of arn:aws:iam::111122223333:root") {
			t.Errorf("refusal does not say how to reset: %v", err)
		}
	}
}

func TestResetRouteOf(t *testing.T) {
	for path, want := range map[string]resetRoute{
		"/kmsd/reset":                  kmsdReset,
		"/moto-api/reset":              motoReset,
		"/_localstack/state/reset":     localstackReset,
		"/_localstack/state/kms/reset": localstackReset,
		"/_localstack/state/iam/reset": localstackReset,
		"/_localstack/state/s3/reset":  localstackOtherService,
		"/_localstack/state//reset":    notReset,
		"/_localstack/state/a/b/reset": notReset,
		"/":                            notReset,
		"/kmsd/reset/":                 notReset,
	} {
		if got := routeOf(path); got != want {
			t.Errorf("routeOf(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestSignedResetFromAnotherMachine resets an --enforce server from a
// non-loopback peer: a request signed (SigV4, kms) with the root's
// credentials, as curl --aws-sigv4 sends it, resets; one signed with a
// wrong secret, or by another principal, is refused and changes nothing.
func TestSignedResetFromAnotherMachine(t *testing.T) {
	ctx := t.Context()
	cfg := defaultConfig()
	cfg.DataDir, cfg.Enforce = memoryData, true
	log := slog.New(slog.DiscardHandler)
	in, err := startInstance(ctx, cfg, log, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newResetter(ctx, cfg, log, io.Discard, in, nil)
	t.Cleanup(func() {
		if in := r.current(); in != nil {
			in.stop(log)
		}
	})
	if _, err := in.n.ids.CreateUser(ctx, cfg.AccountID, identity.CreateUserInput{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := in.n.ids.EnsureAccessKey(ctx, cfg.AccountID, "bob", "AKIABOBBOBBOB0000001", secret.Bytes("bob-secret-00000000000000000000000000")); err != nil {
		t.Fatal(err)
	}
	reset := func(akid, sec string) int {
		req := httptest.NewRequest(http.MethodPost, "http://kmsd.example:8080/kmsd/reset", nil)
		req.RemoteAddr = "192.0.2.7:40000"
		sum := sha256.Sum256(nil)
		req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: sec}
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}
	if code := reset(docKey, docSecret+"x"); code != http.StatusForbidden {
		t.Fatalf("wrong secret: %d, want 403", code)
	}
	if code := reset("AKIABOBBOBBOB0000001", "bob-secret-00000000000000000000000000"); code != http.StatusForbidden {
		t.Fatalf("an IAM user: %d, want 403", code)
	}
	if r.current() != in {
		t.Fatal("a refused reset replaced the state")
	}
	if code := reset(docKey, docSecret); code != http.StatusOK {
		t.Fatalf("signed by the root: %d, want 200", code)
	}
	if r.current() == in {
		t.Fatal("the reset kept the old state")
	}
	if _, _, err := r.current().n.ids.Lookup(ctx, "AKIABOBBOBBOB0000001"); err == nil {
		t.Fatal("bob's access key survived the reset")
	}
}
