package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFileErrorsNameSettingAndLine: a mistake in the --config file is
// reported with the file, its line and the setting as written there, never
// with Go type names.
func TestConfigFileErrorsNameSettingAndLine(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"misspelt setting": {"region: eu-west-1\nlsten: 127.0.0.1:9000\n",
			`kmsd.yaml line 2: unknown setting "lsten" (did you mean listen?)`},
		"unknown setting": {"region: eu-west-1\n\nbananas: 3\n",
			`kmsd.yaml line 3: unknown setting "bananas" (known settings: account_id, `},
		"duration": {"max_skew: soon\n",
			`kmsd.yaml line 1: max_skew: want a duration such as 30s, 5m or 1h, not "soon"`},
		"bool": {"region: eu-west-1\nenforce: sometimes\n",
			`kmsd.yaml line 2: enforce: want true or false, not "sometimes"`},
		"regions": {"regions:\n  a: b\n",
			`kmsd.yaml line 2: regions: want a list of Regions such as [us-east-1, eu-west-1], not a map`},
		"quotas": {"quotas: [1, 2]\n",
			`kmsd.yaml line 1: quotas: want aws, off, a scale of AWS's rates such as 0.1, or a map of quota names to requests per second, not a list`},
		"listen is a list": {"listen: [a, b]\n",
			`kmsd.yaml line 1: listen: want a single value, not a list`},
		"syntax": {"listen: 127.0.0.1:9000\n  region: x\n",
			`kmsd.yaml: line 2: mapping values are not allowed in this context`},
		"not a map": {"- listen\n",
			`kmsd.yaml line 1: want settings (name: value), not a list`},
	} {
		file := writeFile(t, "kmsd.yaml", tc.yaml)
		_, _, err := loadConfig(modeDev, []string{"--config", file}, io.Discard, noEnv)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		msg := strings.ReplaceAll(err.Error(), filepath.Dir(file)+"/", "")
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error\n  %s\nwant it to contain\n  %s", name, msg, tc.want)
		}
		if regexp.MustCompile(`main\.|time\.Duration|!!|\bstruct\b|\[\]string`).MatchString(msg) {
			t.Errorf("%s: error speaks Go or YAML internals: %s", name, msg)
		}
	}
	// An empty file sets nothing; anchors and aliases work.
	if cfg, _, err := loadConfig(modeDev, []string{"--config", writeFile(t, "empty.yaml", "")}, io.Discard, noEnv); err != nil || cfg.Listen != defaultConfig().Listen {
		t.Errorf("empty config file: %v", err)
	}
	cfg, _, err := loadConfig(modeDev, []string{"--config", writeFile(t, "alias.yaml", "region: &r eu-west-1\nregions: [*r, us-east-1]\n")}, io.Discard, noEnv)
	if err != nil || cfg.Region != "eu-west-1" || cfg.Regions.String() != "eu-west-1,us-east-1" {
		t.Errorf("anchors: %+v, %v", cfg.Regions, err)
	}
}

// TestSeedFileErrorsNameSettingAndLine: the same for the --seed file, run
// through the binary as a user would start it.
func TestSeedFileErrorsNameSettingAndLine(t *testing.T) {
	seed := writeFile(t, "seed.yaml", "keys:\n  - id: 11111111-2222-3333-4444-555555555555\n    aliases: [alias/a]\n  - id: 11111111-2222-3333-4444-666666666666\n    enabeld: false\n")
	out, err := runBin(t, "dev", "--data", t.TempDir(), "--listen", freeAddr(t), "--seed", seed)
	if err == nil {
		t.Fatalf("kmsd started with a misspelt seed setting:\n%s", out)
	}
	want := `seed.yaml line 5: unknown setting "keys[1].enabeld" (did you mean enabled?)`
	if !strings.Contains(out, want) || strings.Contains(out, "main.") {
		t.Fatalf("output:\n%s\nwant it to contain %q", out, want)
	}
}

// TestConfigFromEnvironment: KMSD_CONFIG names the config file when
// --config is not given, and --config wins over it.
func TestConfigFromEnvironment(t *testing.T) {
	fromEnv := writeFile(t, "env.yaml", "region: eu-west-3\n")
	fromFlag := writeFile(t, "flag.yaml", "region: ap-south-1\n")
	env := func(k string) string {
		if k == "KMSD_CONFIG" {
			return fromEnv
		}
		return ""
	}
	cfg, _, err := loadConfig(modeDev, nil, io.Discard, env)
	if err != nil || cfg.Region != "eu-west-3" {
		t.Fatalf("KMSD_CONFIG: region %q, %v", cfg.Region, err)
	}
	cfg, _, err = loadConfig(modeDev, []string{"--config", fromFlag}, io.Discard, env)
	if err != nil || cfg.Region != "ap-south-1" {
		t.Fatalf("--config over KMSD_CONFIG: region %q, %v", cfg.Region, err)
	}
}

// TestAdminReadsConfig: the admin commands find the data directory and
// account in the server's config file, given by --config or KMSD_CONFIG.
func TestAdminReadsConfig(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	file := writeFile(t, "kmsd.yaml", "data: "+data+"\naccount_id: \"444455556666\"\n")
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "create-access-key", "--config", file}, &out, &out, noEnv); err != nil {
		t.Fatalf("create-access-key --config: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "arn:aws:iam::444455556666:root") {
		t.Fatalf("the key is not for the configured account:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(data, "kmsd.db")); err != nil {
		t.Fatalf("the configured data directory was not used: %v", err)
	}
	out.Reset()
	env := func(k string) string {
		if k == "KMSD_CONFIG" {
			return file
		}
		return ""
	}
	err := run(ctx, []string{"admin", "explain", "--principal", "arn:aws:iam::444455556666:root", "--action", "kms:Decrypt", "--key", "alias/none"}, &out, &out, env)
	if err == nil || !strings.Contains(err.Error(), "alias/none") {
		t.Fatalf("explain with KMSD_CONFIG should look the alias up in the configured store: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join("kmsd-data")); err == nil {
		t.Fatal("explain used the default data directory, not the configured one")
	}
}
