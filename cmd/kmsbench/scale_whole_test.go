package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

func TestRequestsOfSumsEveryOperationAndOutcome(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# HELP kmsd_requests_total API requests.
# TYPE kmsd_requests_total counter
kmsd_requests_total{operation="Encrypt",outcome="ok"} 1200
kmsd_requests_total{operation="Decrypt",outcome="InvalidCiphertextException"} 3
kmsd_requests_total_other 99
kmsd_request_duration_seconds_bucket{operation="Encrypt",le="+Inf"} 1200
kmsd_keys{state="Enabled"} 5
`)
	}))
	defer srv.Close()
	n, err := requestsOf(srv.URL)
	if err != nil || n != 1203 {
		t.Fatalf("requestsOf = %v, %v; want 1203", n, err)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, `kmsd_requests_total{operation="Encrypt",outcome="ok"} many`)
	}))
	defer broken.Close()
	if _, err := requestsOf(broken.URL); err == nil {
		t.Fatal("a value that is not a number was read")
	}
}

func TestWholeRunPerRequest(t *testing.T) {
	from := wholeRun{procStat: procStat{cpu: time.Second, minor: 40, major: 1}, requests: 1000}
	to := wholeRun{procStat: procStat{cpu: 3 * time.Second, minor: 90, major: 1}, requests: 21000}
	if got := to.perRequest(from); got != 100*time.Microsecond {
		t.Errorf("2 s over 20,000 requests: %s", got)
	}
	if got := from.perRequest(from); got != 0 {
		t.Errorf("no request answered: %s", got)
	}
	f := to.faults(from)
	if f != (pageFaults{Minor: 50, Major: 0, Requests: 20000}) {
		t.Errorf("faults: %+v", f)
	}
	if got, want := f.String(), "50 minor, 0 major over 20000 requests (2.50 and 0.00 per 1,000)"; got != want {
		t.Errorf("faults read %q, want %q", got, want)
	}
}

// TestProcStatOfThisProcess: the fields read from /proc are this test's
// own, and its CPU time and faults only grow.
func TestProcStatOfThisProcess(t *testing.T) {
	before, err := procStatOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = byte(i)
	}
	var after procStat
	for end := time.Now().Add(10 * time.Second); after.cpu <= before.cpu && time.Now().Before(end); {
		if after, err = procStatOf(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	// 64 MiB is 32 pages even if every one is a 2 MiB huge page.
	if after.cpu <= before.cpu || after.minor < before.minor+8 || after.major < before.major {
		t.Errorf("touching 64 MiB and spinning 50 ms: %+v then %+v", before, after)
	}
	runtime.KeepAlive(b)
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses, as a process may set.
	stat := "4242 (kmsd (a) b) S 1 4242 4242 0 -1 4194560 5123 0 7 0 250 30 0 0 20 0 12 0 100 0 0"
	got, err := parseProcStat(stat)
	if err != nil || got != (procStat{state: "S", cpu: 2800 * time.Millisecond, minor: 5123, major: 7}) {
		t.Errorf("parseProcStat = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "4242 (kmsd) S 1 2", "4242 (kmsd) S 1 4242 4242 0 -1 4194560 x 0 7 0 250 30"} {
		if got, err := parseProcStat(bad); err == nil {
			t.Errorf("%q read as %+v", bad, got)
		}
	}
}

// TestExitedSeesAZombie: a server process that ended, not yet waited for,
// is seen as exited; one that runs is not.
func TestExitedSeesAZombie(t *testing.T) {
	running := &server{cmd: exec.Command("sleep", "30")}
	ended := &server{cmd: exec.Command("true")}
	for _, s := range []*server{running, ended} {
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer running.cmd.Wait()
	defer running.cmd.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); !ended.exited() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !ended.exited() {
		t.Error("a process that ended is not seen as exited")
	}
	if running.exited() {
		t.Error("a running process is seen as exited")
	}
	if err := ended.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
