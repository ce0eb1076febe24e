package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// printConfig runs the built kmsd with args plus --print-config in env
// alone, as a container or unit would start it, and returns what it prints.
func printConfig(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(kmsdBin, append(args, "--print-config")...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kmsd %s with %v: %v\n%s", strings.Join(args, " "), env, err, out)
	}
	return string(out)
}

// TestComposeClusterNodesStart reads deploy/docker-compose.yml and starts
// each kmsd node's command with its environment (and the image's), with
// --print-config: every node is accepted by serve's checks (TLS beyond
// loopback, a store, its own node id), so `docker compose up` does not
// stop at a refused setting. The engine itself cannot run here.
func TestComposeClusterNodesStart(t *testing.T) {
	b, err := os.ReadFile("../../deploy/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	vars := map[string]string{"POSTGRES_PASSWORD": "pw", "KMSD_ROOT_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE", "KMSD_ROOT_SECRET_KEY": docSecret}
	expand := func(s string) string { return os.Expand(s, func(k string) string { return vars[k] }) }
	nodes := map[string]bool{}
	for name, svc := range compose.Services {
		if len(svc.Command) == 0 || svc.Command[0] != "serve" {
			continue
		}
		// The image's own environment (Dockerfile ENV), then the service's.
		env := []string{"PATH=" + os.Getenv("PATH"), "KMSD_DATA=/data", "KMSD_LISTEN=0.0.0.0:8080"}
		for k, v := range svc.Environment {
			env = append(env, k+"="+expand(v))
		}
		out := printConfig(t, env, svc.Command...)
		for _, want := range []string{"listen: 0.0.0.0:8443", "store: postgres://kmsd:", "node_id: " + name, "tls_cert: /certs/cert.pem", "data: /data"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the effective config lacks %q:\n%s", name, want, out)
			}
		}
		if !slicesContain(svc.Volumes, name+":/data") {
			t.Errorf("%s: no volume of its own for /data: %v", name, svc.Volumes)
		}
		nodes[name] = true
	}
	if len(nodes) != 3 {
		t.Fatalf("found kmsd nodes %v in docker-compose.yml, want three", nodes)
	}
}

// TestSystemdUnitStarts reads deploy/kmsd.service and runs its ExecStart
// with its Environment and a config file like the README's, with
// --print-config.
func TestSystemdUnitStarts(t *testing.T) {
	f, err := os.Open("../../deploy/kmsd.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var execStart []string
	env := []string{"PATH=" + os.Getenv("PATH")}
	conf := filepath.Join(t.TempDir(), "kmsd.yaml")
	if err := os.WriteFile(conf, []byte("listen: 0.0.0.0:8443\ntls_cert: /etc/kmsd/cert.pem\ntls_key: /etc/kmsd/key.pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ExecStart="):
			execStart = strings.Fields(strings.TrimPrefix(line, "ExecStart="))
		case strings.HasPrefix(line, "Environment=KMSD_CONFIG="):
			env = append(env, "KMSD_CONFIG="+conf) // the unit's path, moved to a test file
		case strings.HasPrefix(line, "Environment="):
			env = append(env, strings.TrimPrefix(line, "Environment="))
		}
	}
	if len(execStart) < 2 || execStart[0] != "/usr/local/bin/kmsd" || execStart[1] != "serve" {
		t.Fatalf("ExecStart = %v, want /usr/local/bin/kmsd serve …", execStart)
	}
	out := printConfig(t, env, execStart[1:]...)
	for _, want := range []string{"listen: 0.0.0.0:8443", "data: /var/lib/kmsd", "tls_cert: /etc/kmsd/cert.pem", "audit_fail_closed: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("the unit's effective config lacks %q:\n%s", want, out)
		}
	}
	b, _ := os.ReadFile("../../deploy/kmsd.service")
	for _, want := range []string{`(?m)^StateDirectory=kmsd$`, `(?m)^NoNewPrivileges=yes$`, `(?m)^ProtectSystem=strict$`, `(?m)^Restart=on-failure$`} {
		if !regexp.MustCompile(want).Match(b) {
			t.Errorf("kmsd.service lacks %s", want)
		}
	}
}

func slicesContain(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
