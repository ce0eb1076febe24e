package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
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
		r := newResetter(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, nil)
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
