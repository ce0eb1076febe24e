package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// peerAllowed admits a peer running as this process's user or as root.
func peerAllowed(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return credErr
	}
	if me := os.Geteuid(); int(cred.Uid) != me && cred.Uid != 0 {
		return fmt.Errorf("peer process %d runs as uid %d, not the server's uid %d or root", cred.Pid, cred.Uid, me)
	}
	return nil
}
