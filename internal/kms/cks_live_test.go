package kms

import (
	"errors"
	"testing"
)

// TestInstallRefusesRetiredAttempt: once an attempt is retired (by a
// Disconnect or a change), a connection opened for an earlier attempt is
// refused, and a later connection is never replaced by an earlier one.
func TestInstallRefusesRetiredAttempt(t *testing.T) {
	var m cksManager
	l3 := &cksLive{attempt: 3}
	if got, err := m.install("k", l3); err != nil || got != l3 {
		t.Fatalf("install attempt 3: %v, %v", got, err)
	}
	m.retire("k", 5) // Disconnect made attempt 5
	if m.lookup("k") != nil {
		t.Fatal("the retired attempt's connection is still live")
	}
	if _, err := m.install("k", &cksLive{attempt: 4}); !errors.Is(err, errRetired) {
		t.Fatalf("install of a retired attempt: %v", err)
	}
	l6 := &cksLive{attempt: 6}
	if got, err := m.install("k", l6); err != nil || got != l6 {
		t.Fatalf("install attempt 6: %v, %v", got, err)
	}
	if got, err := m.install("k", &cksLive{attempt: 5}); err != nil || got != l6 {
		t.Fatalf("an earlier attempt replaced a later one: %v, %v", got, err)
	}
	m.retire("k", 6) // a store read not CONNECTED at attempt 6 keeps attempt 6's
	if m.lookup("k") != l6 {
		t.Fatal("retiring attempts before 6 dropped attempt 6's connection")
	}
}
