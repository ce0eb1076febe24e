package main

import (
	"fmt"
	"io"
)

// warnConfig warns, on stderr at start, about settings that work but are
// likely mistakes or unsafe where the server can be reached.
func warnConfig(c Config, stderr io.Writer) {
	warnRegionNames(c, stderr)
	if c.Enforce && c.RootSecretKey == docSecretKey && !loopback(c.Listen) {
		fmt.Fprintf(stderr, "kmsd: warning: listening on %s with AWS's published example secret key as the root credential: anyone who reaches this address can sign as the root of account %s; set KMSD_ROOT_ACCESS_KEY and KMSD_ROOT_SECRET_KEY to a pair of your own, or publish the port on 127.0.0.1 only\n", c.Listen, c.AccountID)
	}
}
