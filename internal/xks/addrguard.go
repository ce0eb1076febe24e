package xks

import (
	"errors"
	"net/netip"
	"syscall"
)

// ErrAddressRefused is the cause of a dial refused by PublicAddress. The
// client reports it as an unreachable proxy, as for any other address that
// does not answer, so the answer tells nothing about what listens there.
var ErrAddressRefused = errors.New("xks: the proxy endpoint resolves to an address that is not public")

// nonPublic are the ranges netip has no predicate for.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast
	netip.MustParsePrefix("fec0::/10"),          // deprecated site-local
	netip.MustParsePrefix("64:ff9b:1::/48"),     // local-use NAT64 (RFC 8215)
}

// nat64 is the well-known NAT64 prefix: the IPv4 address in its last 32
// bits is what is reached.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PublicAddress reports whether ip may be an XKS proxy's on the internet:
// not loopback, private (RFC 1918, ULA), link-local, unspecified,
// multicast, CGNAT or broadcast. An IPv4-mapped or NAT64 address is judged
// by the IPv4 address in it.
func PublicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// publicOnly is a net.Dialer Control: it runs on each address about to be
// dialled, after DNS resolution, so a name that resolves (or is rebound)
// to an internal address is refused as an IP literal is.
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !PublicAddress(ap.Addr()) {
		return ErrAddressRefused
	}
	return nil
}
