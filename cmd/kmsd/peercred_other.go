//go:build !linux

package main

import "net"

// peerAllowed leaves access to the socket's file mode (0600) and its
// directory's where peer credentials are not read.
func peerAllowed(net.Conn) error { return nil }
