//go:build !race

package main

// raceBuild: the tests run without the race detector (the FIPS 140-only
// pass), and the kmsd binary they start is built without it too.
const raceBuild = false
