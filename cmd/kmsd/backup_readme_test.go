package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeBackupCommands runs the kmsd commands of the README's
// "Backup, restore and checks" (its bbolt ones; TestPostgresDumpRestoreAndCheck
// does the PostgreSQL ones) as written, with its paths pointed at a test
// data directory: backup and check while the server runs, restore once it
// is stopped.
func TestReadmeBackupCommands(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), "\n### Backup, restore and checks\n")
	if !ok {
		t.Fatal("the README has no Backup, restore and checks section")
	}
	if i := regexp.MustCompile(`\n##+ `).FindStringIndex(sec); i != nil {
		sec = sec[:i[0]]
	}
	data, backups := t.TempDir(), t.TempDir()
	subst := strings.NewReplacer("/var/lib/kmsd", data, "/backups/", backups+"/", "$(date +%F)", "2025-01-31")
	var cmds [][]string
	for _, b := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		for line := range strings.Lines(b[1]) {
			if strings.HasPrefix(line, "bin/kmsd admin ") && !strings.Contains(line, "--store") {
				cmds = append(cmds, strings.Fields(subst.Replace(line))[1:])
			}
		}
	}
	var seen []string
	for _, c := range cmds {
		seen = append(seen, c[1])
	}
	if strings.Join(seen, " ") != "backup check check restore" {
		t.Fatalf("the section's kmsd commands are %v, want backup, check, check --in, restore", seen)
	}

	p := startKMSD(t, "dev", "--data", data)
	createKey(t, p.client(docKey, docSecret), "from the README")
	for _, c := range cmds {
		if c[1] == "restore" && p != nil {
			p.stop() // "with the server stopped"
			p = nil
		}
		if out, code := kmsdAdmin(t, c[1:]...); code != 0 {
			t.Fatalf("kmsd %s (exit %d):\n%s", strings.Join(c, " "), code, out)
		}
	}
	if _, err := os.Stat(filepath.Join(backups, "kmsd-2025-01-31.db")); err != nil {
		t.Fatal(err)
	}
}
