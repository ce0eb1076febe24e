//go:build !race

package auditindex

// raceEnabled: the tests run without the race detector.
const raceEnabled = false
