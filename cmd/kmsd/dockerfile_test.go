package main

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct{ cmd, args string }

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// jsonArgs reads an exec-form argument list: ["a", "b"].
func jsonArgs(t *testing.T, s string) []string {
	t.Helper()
	var a []string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		t.Fatalf("%q is not in exec form: %v", s, err)
	}
	return a
}

// TestDockerfile checks the image recipe without a container engine: a
// multi-stage build whose final stage is scratch with a numeric non-root
// user, a data volume, the port and a health check that need no shell. It
// then runs the build stage's own go build command and checks the binary
// is static, and runs that binary as the image would (its entrypoint,
// command, environment and user) to check that the listener guards let it
// start on 0.0.0.0 with signatures enforced and the health check passes.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "../../Dockerfile")
	var stages []string
	final := map[string]string{}
	var buildCmd string
	env := map[string]string{}
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			stages = append(stages, in.args)
			final = map[string]string{}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				buildCmd = in.args
			}
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
		final[in.cmd] = in.args
	}
	if len(stages) < 2 || stages[len(stages)-1] != "scratch" {
		t.Fatalf("stages %q: want a build stage and a final stage FROM scratch", stages)
	}
	if !strings.HasPrefix(buildCmd, "CGO_ENABLED=0 go build ") || !strings.Contains(buildCmd, "./cmd/kmsd") {
		t.Fatalf("build command %q: want CGO_ENABLED=0 go build of ./cmd/kmsd", buildCmd)
	}
	uid, gid, ok := strings.Cut(final["USER"], ":")
	u, err1 := strconv.Atoi(uid)
	g, err2 := strconv.Atoi(gid)
	if !ok || err1 != nil || err2 != nil || u == 0 || g == 0 {
		t.Fatalf("USER %q: want a numeric non-root uid:gid", final["USER"])
	}
	_, port, _ := strings.Cut(env["KMSD_LISTEN"], ":")
	if !strings.HasPrefix(env["KMSD_LISTEN"], "0.0.0.0:") || final["EXPOSE"] != port {
		t.Fatalf("KMSD_LISTEN %q and EXPOSE %q: want 0.0.0.0 on the exposed port", env["KMSD_LISTEN"], final["EXPOSE"])
	}
	if vol := jsonArgs(t, final["VOLUME"]); len(vol) != 1 || vol[0] != env["KMSD_DATA"] {
		t.Fatalf("VOLUME %v: want the data directory %s", vol, env["KMSD_DATA"])
	}
	hc := regexp.MustCompile(`CMD (\[.*\])$`).FindStringSubmatch(final["HEALTHCHECK"])
	if hc == nil {
		t.Fatalf("HEALTHCHECK %q: want an exec-form CMD", final["HEALTHCHECK"])
	}
	health := jsonArgs(t, hc[1])
	entry := jsonArgs(t, final["ENTRYPOINT"])
	args := jsonArgs(t, final["CMD"])
	if len(entry) != 1 || entry[0] != "/kmsd" || len(health) < 2 || health[0] != "/kmsd" || health[1] != "healthcheck" {
		t.Fatalf("ENTRYPOINT %v, HEALTHCHECK %v: want /kmsd and /kmsd healthcheck", entry, health)
	}

	// The build stage's command, run here with the output in a directory
	// the image's user can read.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "kmsd")
	build := exec.Command("sh", "-c", strings.Replace(buildCmd, "-o /out/kmsd", "-o "+bin, 1))
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", buildCmd, err, out)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := ef.ImportedLibraries()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || len(libs) > 0 {
			t.Fatalf("the binary is dynamically linked (%v); scratch has no loader", libs)
		}
	}
	ef.Close()

	// Run it as the image does.
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// Only root can run a process as another user; elsewhere the test
	// runs the image's command as the current user.
	asRoot := os.Geteuid() == 0
	if asRoot {
		if err := os.Chown(data, u, g); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	_, testPort, _ := strings.Cut(addr, ":")
	imageEnv := []string{"KMSD_LISTEN=0.0.0.0:" + testPort, "KMSD_DATA=" + data, "PATH=/nonexistent"}
	asImage := func(ctx context.Context, args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, bin, args...)
		c.Env = imageEnv
		c.Dir = "/"
		if asRoot {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u), Gid: uint32(g)}}
		}
		return c
	}
	srv := asImage(context.Background(), args...)
	var stderr syncBuffer
	srv.Stdout, srv.Stderr = &stderr, &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	healthy := false
	for i := 0; i < 100 && !healthy; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		healthy = asImage(ctx, health[1:]...).Run() == nil
		cancel()
		if !healthy {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !healthy {
		t.Fatalf("the image's health check never passed\n%s", stderr.String())
	}
	for _, want := range []string{"auth:  SigV4 enforced", "published example secret key"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the image's server output lacks %q:\n%s", want, stderr.String())
		}
	}
	url := "http://" + addr
	if _, err := kmsIn(url, "us-east-1", docKey, docSecret).CreateKey(context.Background(), &kms.CreateKeyInput{}); err != nil {
		t.Errorf("CreateKey signed with the root credentials: %v", err)
	}
	if _, err := kmsIn(url, "us-east-1", docKey, "not-the-secret").ListKeys(context.Background(), &kms.ListKeysInput{}); errCode(err) != "InvalidSignatureException" {
		t.Errorf("a wrong secret: %v; want InvalidSignatureException (signatures enforced)", err)
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("the image's server after SIGTERM: %v\n%s", err, stderr.String())
	}
	fi, err := os.Stat(filepath.Join(data, "kmsd.db"))
	if err != nil {
		t.Fatalf("no store in the data volume: %v", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); asRoot && (!ok || st.Uid != uint32(u)) {
		t.Errorf("the store is not owned by the image's user %d", u)
	}
}
