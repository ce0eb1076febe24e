package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeSection is the text of the README's "## title" section, up to the
// next section of the same level; the test fails when there is none.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("the README has no %q section", "## "+title)
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	return sec
}

// shBlocks joins the ```sh blocks of a README section into one script.
func shBlocks(sec string) string {
	var script strings.Builder
	for _, b := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		script.WriteString(b[1])
	}
	return script.String()
}

// runReadmeScript runs script with bash (-euo pipefail) in dir, as a reader
// would, with kmsd on the PATH and no AWS configuration of the machine's;
// background jobs it leaves are killed. It fails the test when the script
// fails or takes more than three minutes, and returns its output.
func runReadmeScript(t *testing.T, dir, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1",
		"PATH="+filepath.Dir(kmsdBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, env...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the section's commands did not finish:\n%s", out)
	}
	if err != nil {
		t.Fatalf("the section's commands: %v\n%s", err, out)
	}
	return string(out)
}
