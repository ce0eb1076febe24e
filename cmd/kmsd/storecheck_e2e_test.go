package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/schema"
	"github.com/kmsd/kmsd/internal/store/sealed"
	"go.etcd.io/bbolt"
)

// storePage is a page in use of a bbolt file.
type storePage struct {
	id  int
	typ string // "branch", "leaf", "freelist"
}

// pagesOf lists the pages in use of the stopped store in data, and the
// size its pages span (its high-water mark; the file may be longer, since
// bbolt grows it ahead of use).
func pagesOf(t *testing.T, data string) (pageSize int, pages []storePage, used int) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(data, "kmsd.db"), 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pageSize = db.Info().PageSize
	err = db.View(func(tx *bbolt.Tx) error {
		used = int(tx.Size())
		for id := 2; int64(id) < tx.Size()/int64(pageSize); id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			pages = append(pages, storePage{id: id, typ: p.Type})
			id += p.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pageSize, pages, used
}

func pageOfType(t *testing.T, pages []storePage, typ string) int {
	t.Helper()
	for _, p := range pages {
		if p.typ == typ {
			return p.id
		}
	}
	t.Fatalf("no %s page in %v", typ, pages)
	return 0
}

// populated starts a server on a new data directory, makes keys, aliases
// and ciphertexts, stops it and returns the directory.
func populated(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--data", data)
	c := p.client(docKey, docSecret)
	for i := range 40 {
		id := createKey(t, c, fmt.Sprintf("key %d of the damage tests", i))
		if _, err := c.CreateAlias(context.Background(), &awskms.CreateAliasInput{AliasName: aws.String(fmt.Sprintf("alias/k%d", i)), TargetKeyId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	p.stop()
	return data
}

// TestDamagedStoreIsRefusedAtStart damages a stopped server's kmsd.db in
// the ways disks, copies and people do. Each time kmsd refuses to start,
// exits non-zero with a message naming the file, the damage and how to
// restore, and prints no panic; kmsd admin check refuses it the same way.
// Before, bbolt took an empty file for a new store (a server without its
// keys), and crashed on pages it could not read.
func TestDamagedStoreIsRefusedAtStart(t *testing.T) {
	orig := populated(t)
	ps, pages, used := pagesOf(t, orig)
	leaf, free := pageOfType(t, pages, "leaf"), pageOfType(t, pages, "freelist")
	ne := binary.NativeEndian
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		want   string
	}{
		{"emptied", func([]byte) []byte { return nil }, "it is empty (0 bytes)"},
		{"truncated to half", func(b []byte) []byte { return b[:used/2] }, "it was truncated"},
		{"cut to 1000 bytes", func(b []byte) []byte { return b[:1000] }, "too short to be a kmsd store"},
		{"both header pages zeroed", func(b []byte) []byte { clear(b[:2*ps]); return b }, "neither of its two header pages is intact"},
		{"page type bytes flipped", func(b []byte) []byte { b[leaf*ps+8] ^= 0xFF; b[leaf*ps+9] ^= 0xFF; return b }, "not a branch or leaf page"},
		{"element offset flipped", func(b []byte) []byte { b[leaf*ps+16+7] ^= 0x80; return b }, "element 0 points outside the page"},
		{"page id flipped", func(b []byte) []byte { b[leaf*ps] ^= 0x01; return b }, fmt.Sprintf("page %d (referred to by", leaf)},
		{"a page in use listed as free", func(b []byte) []byte {
			ne.PutUint16(b[free*ps+10:], 1)
			ne.PutUint64(b[free*ps+16:], uint64(leaf))
			return b
		}, fmt.Sprintf("bbolt's consistency check found: page %d: reachable freed", leaf)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			copyDataDir(t, orig, data)
			db := filepath.Join(data, "kmsd.db")
			b, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(db, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			out := startRefused(t, "dev", "--data", data)
			wantNoCrash(t, out)
			for _, want := range []string{"kmsd: data file " + db + " is damaged: ", tc.want, "kmsd admin restore --data " + data + " --in BACKUP"} {
				if !strings.Contains(out, want) {
					t.Errorf("start refusal lacks %q:\n%s", want, out)
				}
			}
			out, code := kmsdAdmin(t, "check", "--data", data)
			wantNoCrash(t, out)
			if code == 0 || !strings.Contains(out, "is damaged: ") || !strings.Contains(out, tc.want) {
				t.Errorf("check of the damaged store (exit %d):\n%s", code, out)
			}
		})
	}
}

// copyDataDir copies the store and root key of one data directory into
// another.
func copyDataDir(t *testing.T, from, to string) {
	t.Helper()
	for _, f := range []string{"kmsd.db", "root.key"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckNamesAlteredRecords flips a byte of a key's description inside
// kmsd.db. kmsd admin check exits non-zero naming the record by bucket and
// key and never printing its value; a backup of it is refused; the server
// still starts, logs the record, and refuses only that key.
func TestCheckNamesAlteredRecords(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--data", data)
	c := p.client(docKey, docSecret)
	const canary = "canary-description-4f2a"
	altered := createKey(t, c, canary)
	intact := createKey(t, c, "an intact key")
	p.stop()
	if out, code := kmsdAdmin(t, "check", "--data", data); code != 0 || !strings.Contains(out, "OK: "+filepath.Join(data, "kmsd.db")+" is intact") {
		t.Fatalf("check of an intact store (exit %d):\n%s", code, out)
	}

	db := filepath.Join(data, "kmsd.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	n := bytes.Count(b, []byte(canary))
	if n == 0 {
		t.Fatal("the description is not in kmsd.db")
	}
	b = bytes.ReplaceAll(b, []byte(canary), []byte(strings.Replace(canary, "canary", "cAnary", 1)))
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}

	out, code := kmsdAdmin(t, "check", "--data", data)
	wantNoCrash(t, out)
	keyRecord := `bucket "keys", key "111122223333/us-east-1/` + altered + `": record is not authentic`
	if code == 0 || !strings.Contains(out, keyRecord) || !strings.Contains(out, "failed its check") || strings.Contains(out, "cAnary") || strings.Contains(out, canary) {
		t.Fatalf("check of an altered store (exit %d) must name the key's record and no value:\n%s", code, out)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if out, code := kmsdAdmin(t, "backup", "--data", data, "--out", backup); code == 0 || !strings.Contains(out, "fail authentication") {
		t.Fatalf("backup of an altered store (exit %d):\n%s", code, out)
	}
	if _, err := os.Stat(backup); err == nil {
		t.Fatal("the refused backup was kept")
	}

	p = startKMSD(t, "dev", "--data", data)
	c = p.client(docKey, docSecret)
	if _, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(altered)}); errCode(err) != "KMSInternalException" {
		t.Errorf("the altered key: %v, want KMSInternalException", err)
	}
	if _, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(intact)}); err != nil {
		t.Errorf("the intact key: %v", err)
	}
	p.stop()
	if logs := p.stderr.String(); !strings.Contains(logs, strings.ReplaceAll(keyRecord, `"`, `\"`)) || strings.Contains(logs, "cAnary") {
		t.Errorf("the start log does not name the altered record, or shows its value:\n%s", logs)
	}
}

// TestRestoreRefusesAndChangesNothing offers restore backups it must
// refuse: of another data directory's root key, truncated, altered,
// without the data directory's root.key. Each is refused with a clear
// message and the store is left as it was.
func TestRestoreRefusesAndChangesNothing(t *testing.T) {
	data := populated(t)
	backup := filepath.Join(t.TempDir(), "good.db")
	if out, code := kmsdAdmin(t, "backup", "--data", data, "--out", backup); code != 0 {
		t.Fatalf("backup (exit %d):\n%s", code, out)
	}
	good, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	other := populated(t)
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	if out, code := kmsdAdmin(t, "backup", "--data", other, "--out", foreign); code != 0 {
		t.Fatalf("backup (exit %d):\n%s", code, out)
	}
	ours, theirs := rootFingerprints(t, filepath.Join(data, "root.key"))[0], rootFingerprints(t, filepath.Join(other, "root.key"))[0]
	write := func(name string, b []byte) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	altered := bytes.ReplaceAll(bytes.Clone(good), []byte("of the damage tests"), []byte("of the damage TESTS"))
	noKey := t.TempDir()

	for _, tc := range []struct {
		name, dir, in string
		want          []string
	}{
		{"another root key", data, foreign, []string{
			"backup " + foreign + " was sealed by root key 1 with fingerprint " + theirs,
			"but " + filepath.Join(data, "root.key") + " holds root key 1 with fingerprint " + ours,
		}},
		{"truncated", data, write("cut.db", good[:len(good)/2]), []string{"is damaged: it was truncated"}},
		{"altered", data, write("altered.db", altered), []string{"records fail authentication", `bucket "keys", key "`}},
		{"not a store", data, write("text.db", bytes.Repeat([]byte("hello "), 2000)), []string{"is damaged: neither of its two header pages is intact"}},
		{"no root.key", noKey, backup, []string{filepath.Join(noKey, "root.key") + " is missing: put the root keyring that sealed backup " + backup + " there first (it expects root key 1 with fingerprint " + ours + ")"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(filepath.Join(tc.dir, "kmsd.db"))
			out, code := kmsdAdmin(t, "restore", "--data", tc.dir, "--in", tc.in)
			wantNoCrash(t, out)
			for _, want := range append(tc.want, "Nothing was changed") {
				if code == 0 || !strings.Contains(out, want) {
					t.Errorf("restore (exit %d) lacks %q:\n%s", code, want, out)
				}
			}
			if strings.Contains(out, "of the damage") {
				t.Errorf("a record's value is in the output:\n%s", out)
			}
			after, _ := os.ReadFile(filepath.Join(tc.dir, "kmsd.db"))
			if !bytes.Equal(before, after) {
				t.Error("the store changed")
			}
			if left, _ := filepath.Glob(filepath.Join(tc.dir, "kmsd.db.*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestNewerStoreSchemaIsRefused: a store that a newer kmsd migrated one
// version past this one's is refused at start, by check and by restore,
// with a message naming both versions; an ordinary start records this
// kmsd's version.
func TestNewerStoreSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	data := populated(t)
	dbPath, _, _ := dataPaths(data)
	cur := storeSchema()
	withStore(t, data, func(st *sealed.Store) {
		if v, by, err := schema.Read(ctx, st); v != cur.Current || by != version || err != nil {
			t.Fatalf("after a start the store records schema %d by %q (%v), want %d by %s", v, by, err, cur.Current, version)
		}
		newer := schema.Plan{Current: cur.Current + 1, Release: "9.9.0", Migrations: append(slices.Clip(cur.Migrations),
			schema.Migration{To: cur.Current + 1, Name: "a future layout", Apply: func(context.Context, store.Tx) error { return nil }})}
		if _, err := newer.Migrate(ctx, st); err != nil {
			t.Fatal(err)
		}
	})
	want := fmt.Sprintf("the store has schema version %d (written by kmsd 9.9.0), but this kmsd %s reads schema versions up to %d", cur.Current+1, version, cur.Current)

	out := startRefused(t, "dev", "--data", data)
	wantNoCrash(t, out)
	if !strings.Contains(out, "kmsd: store "+dbPath+": "+want) {
		t.Errorf("start: want %q:\n%s", want, out)
	}
	if out, code := kmsdAdmin(t, "check", "--data", data); code == 0 || !strings.Contains(out, want) {
		t.Errorf("check (exit %d): want %q:\n%s", code, want, out)
	}
	newerBackup := filepath.Join(t.TempDir(), "newer.db")
	b, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newerBackup, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := kmsdAdmin(t, "restore", "--data", data, "--in", newerBackup); code == 0 || !strings.Contains(out, want) {
		t.Errorf("restore (exit %d): want %q:\n%s", code, want, out)
	}
}

// withStore runs fn on the store of a stopped server's data directory,
// opened with its root key.
func withStore(t *testing.T, data string, fn func(st *sealed.Store)) {
	t.Helper()
	dbPath, keyPath, _ := dataPaths(data)
	raw, err := bolt.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.Open(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sealed.Open(context.Background(), raw, sealed.Config{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fn(st)
}
