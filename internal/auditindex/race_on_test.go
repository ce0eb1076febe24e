//go:build race

package auditindex

// raceEnabled: the tests run with the race detector, under which decoding
// an event costs about fifteen times as much.
const raceEnabled = true
