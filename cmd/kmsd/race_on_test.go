//go:build race

package main

// raceBuild: the tests run with the race detector, and so does the kmsd
// binary they start.
const raceBuild = true
