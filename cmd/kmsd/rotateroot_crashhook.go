//go:build kmsdtest

package main

import "strconv"

// testCrashAfter is KMSD_TEST_ROTATE_ROOT_CRASH_AFTER: rotate-root kills
// its process after re-sealing that many records, as a crash would. Only
// a binary built with -tags kmsdtest (the crash tests' build) has it; a
// release build ignores the variable (rotateroot_crashhook_off.go).
func testCrashAfter(getenv func(string) string) int {
	n, _ := strconv.Atoi(getenv("KMSD_TEST_ROTATE_ROOT_CRASH_AFTER"))
	return n
}
