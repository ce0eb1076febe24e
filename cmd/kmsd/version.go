package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionText says which kmsd this is: its release, the module version
// and VCS commit the Go toolchain recorded in the binary, and the Go
// version and platform it was built with.
func versionText() string {
	module, modVersion, goVersion := "github.com/kmsd/kmsd", "(unknown)", runtime.Version()
	commit, when, modified := "unknown (built without VCS information)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		module, modVersion, goVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var notes []string
	if when != "" {
		notes = append(notes, when)
	}
	if modified {
		notes = append(notes, "with uncommitted changes")
	}
	if len(notes) > 0 {
		commit += " (" + strings.Join(notes, ", ") + ")"
	}
	return fmt.Sprintf("kmsd %s\n  module: %s %s\n  commit: %s\n  go:     %s %s/%s\n",
		version, module, modVersion, commit, goVersion, runtime.GOOS, runtime.GOARCH)
}
