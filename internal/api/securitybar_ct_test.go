package api_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// collected runs the probe under callgrind for target with a wrong first
// and a wrong last byte, counting only the instructions executed inside
// the constant-time comparison functions (and the control's ==), until
// settled accepts the two counts, at most three times each, and returns
// the fewest of each. On a loaded machine a run now and then counts more
// (once 2,400 more over 65 comparisons), so one run alone could fail a
// constant-time comparison, or hide a leak smaller than that noise; noise
// only adds, so the fewest are the counts, and a leak is in every run.
// Counts that settle at once are not taken again: for the probe's
// constant-time targets, equal, and for the control, different.
func collected(t *testing.T, probe, target string, settled func(first, last int) bool) (first, last int) {
	t.Helper()
	for i := range 3 {
		f, l := collectedOnce(t, probe, target, "first"), collectedOnce(t, probe, target, "last")
		if i == 0 || f < first {
			first = f
		}
		if i == 0 || l < last {
			last = l
		}
		if settled(first, last) {
			break
		}
	}
	return first, last
}

func collectedOnce(t *testing.T, probe, target, position string) int {
	t.Helper()
	cmd := exec.Command("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
		"--toggle-collect=crypto/hmac.Equal", "--toggle-collect=*subtle.ConstantTimeCompare", "--toggle-collect=main.plainEqual",
		probe, target, position)
	// One thread, no collector, no preemption: the count depends only on
	// the code run. Where the CPU has RDTSCP, Go's runtime reads the cycle
	// counter with it (the probe makes it do so at least once); Debian's
	// valgrind 3.19 does not decode it and kills the probe with SIGILL, so
	// the runtime is told to do without.
	cmd.Env = append(os.Environ(), "GOGC=off", "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ctprobe %s %s under callgrind: %v\n%s", target, position, err, out)
	}
	m := regexp.MustCompile(`Collected : (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no instruction count from callgrind:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestBarConstantTimeComparisons is the callgrind part of checks 5 and 38:
// the SigV4 signature check, VerifyMac, the grant token's MAC check and
// the import token's authentication (an AES-GCM tag, as every sealed
// record's) each reach a constant-time comparison, and the instructions
// spent comparing are the same whether the input differs from the right
// one in its first byte or its last. A comparison with == shows that
// callgrind sees the difference when there is one. The probe is built
// without inlining, so each comparison is a function callgrind can find.
func TestBarConstantTimeComparisons(t *testing.T) {
	if _, err := exec.LookPath("valgrind"); err != nil {
		t.Fatal("valgrind is not installed (scripts/ensure-tools.sh installs it)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(t.TempDir(), "ctprobe")
	build := exec.Command(goBin, "build", "-gcflags=all=-l", "-o", probe, "./testdata/ctprobe")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ctprobe: %v\n%s", err, out)
	}
	equal := func(first, last int) bool { return first == last }
	for _, target := range []string{"sigv4", "verifymac", "granttoken", "sealtag"} {
		first, last := collected(t, probe, target, equal)
		if first == 0 {
			t.Errorf("%s: no constant-time comparison ran", target)
		}
		if first != last {
			t.Errorf("%s: %d instructions comparing with a wrong first byte, %d with a wrong last byte", target, first, last)
		}
	}
	if first, last := collected(t, probe, "control", func(first, last int) bool { return first != last }); first == last {
		t.Errorf("== spent %d instructions either way: callgrind would not see a leak", first)
	}
}
