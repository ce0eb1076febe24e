//go:build !kmsdtest

package main

// testCrashAfter is 0 in a release build: no environment variable can
// make a server or rotate-root kill itself (see rotateroot_crashhook.go).
func testCrashAfter(func(string) string) int { return 0 }
