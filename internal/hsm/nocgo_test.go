//go:build !cgo

package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/hsm"
)

// A CGO_ENABLED=0 build (the container image) compiles and refuses tokens
// with an error that says why.
func TestOpenWithoutCgo(t *testing.T) {
	_, err := hsm.Open("/usr/lib/softhsm/libsofthsm2.so", "t", "1234")
	if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), "kmsd was built without cgo; PKCS#11 tokens are unavailable") {
		t.Fatalf("Open without cgo = %v", err)
	}
	if err := hsm.InitToken("/usr/lib/softhsm/libsofthsm2.so", "t", "1", "2"); !errors.Is(err, hsm.ErrModule) {
		t.Fatalf("InitToken without cgo = %v", err)
	}
}
