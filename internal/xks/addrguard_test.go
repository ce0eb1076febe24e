package xks

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kmsd/kmsd/internal/xks/xkstest"
)

func TestPublicAddress(t *testing.T) {
	for _, c := range []struct {
		ip     string
		public bool
	}{
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false},
		{"10.0.0.1", false}, {"172.16.0.1", false}, {"172.31.255.254", false}, {"192.168.1.1", false}, {"fd00::1", false}, {"fc00::1", false},
		{"169.254.169.254", false}, {"fe80::1", false},
		{"0.0.0.0", false}, {"::", false}, {"0.1.2.3", false},
		{"224.0.0.1", false}, {"239.255.255.250", false}, {"ff02::1", false}, {"255.255.255.255", false},
		{"100.64.0.1", false}, {"100.127.255.254", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.1.2.3", false}, {"::ffff:169.254.169.254", false},
		{"64:ff9b::a9fe:a9fe", false}, {"64:ff9b::7f00:1", false}, {"64:ff9b:1::1", false}, {"fec0::1", false},
		{"8.8.8.8", true}, {"52.94.76.1", true}, {"172.32.0.1", true}, {"100.128.0.1", true}, {"169.255.0.1", true},
		{"2600:1f18::1", true}, {"::ffff:8.8.8.8", true}, {"64:ff9b::808:808", true},
	} {
		if got := PublicAddress(netip.MustParseAddr(c.ip)); got != c.public {
			t.Errorf("PublicAddress(%s) = %v, want %v", c.ip, got, c.public)
		}
	}
	if PublicAddress(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

// TestPublicOnlyNeverDialsInternalAddresses: with PublicOnly, an endpoint
// on loopback (an IP literal, or a name that resolves to it) is refused
// before any connection, as unreachable, with the same answer whether
// something listens there, a TLS server answers, or nothing does; without
// PublicOnly the same proxy is reached.
func TestPublicOnlyNeverDialsInternalAddresses(t *testing.T) {
	var accepted atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	p := xkstest.New(t)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	_ = closed.Close()
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":"):] }

	md := RequestMetadata{KMSOperation: "CreateCustomKeyStore", KMSRequestID: "r-1"}
	var answers []string
	for _, endpoint := range []string{
		"https://" + ln.Addr().String(),   // TCP answers
		p.URL,                             // a TLS proxy answers
		"https://localhost" + port(p.URL), // a name resolving to loopback
		"https://" + closedAddr,           // nothing answers
		"https://[::1]" + port(p.URL),
		"https://169.254.169.254",
	} {
		cfg := proxyConfig(p)
		cfg.Endpoint, cfg.PublicOnly = endpoint, true
		_, err := newClient(t, cfg).Health(context.Background(), md)
		e := asError(t, err)
		if e.Kind != KindUnreachable || !errors.Is(err, ErrAddressRefused) {
			t.Fatalf("%s: %v (kind %s), want unreachable because refused", endpoint, err, e.Kind)
		}
		answers = append(answers, e.Kind.String())
	}
	if accepted.Load() != 0 || len(p.Requests()) != 0 {
		t.Fatalf("a refused endpoint was connected to: %d connections, %d proxy requests", accepted.Load(), len(p.Requests()))
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("refused endpoints answer differently: %v", answers)
		}
	}
	if _, err := newClient(t, proxyConfig(p)).Health(context.Background(), md); err != nil {
		t.Fatalf("without PublicOnly: %v", err)
	}
}
