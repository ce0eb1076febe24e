package main

import (
	"context"
	"crypto/fips140"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// walkthroughPart is the ```bash blocks of one "## " section of the
// README, with their numbers among all the README's ```bash blocks.
type walkthroughPart struct {
	title  string
	blocks []string
	nums   []int // from 1
}

// walkthroughParts returns the README's ```bash blocks by the "## "
// section they are in, in order; sections without one are left out.
func walkthroughParts(readme string) []walkthroughPart {
	var parts []walkthroughPart
	title, n := "", 0
	var block *strings.Builder
	fenced := false
	for line := range strings.Lines(readme) {
		switch {
		case block != nil && strings.TrimSpace(line) == "```":
			if len(parts) == 0 || parts[len(parts)-1].title != title {
				parts = append(parts, walkthroughPart{title: title})
			}
			p := &parts[len(parts)-1]
			p.blocks, p.nums = append(p.blocks, block.String()), append(p.nums, n)
			block = nil
		case block != nil:
			block.WriteString(line)
		case !fenced && strings.TrimRight(line, "\n") == "```bash":
			block, n = &strings.Builder{}, n+1
		case fenced && strings.TrimSpace(line) == "```": // only a bare fence closes one
			fenced = false
		case !fenced && strings.HasPrefix(line, "```"):
			fenced = true
		case !fenced && strings.HasPrefix(line, "## "):
			title = strings.TrimSpace(line[3:])
		}
	}
	return parts
}

// TestReadmeExamples runs every ```bash block of the README against a
// fresh dev server: the examples work as written, and leave no file in the
// checkout or the temporary directory. Each section runs in a shell of its
// own, framed by the walkthrough's first two blocks (a scratch directory,
// the credentials) and its last (removing the directory), so each must
// stand on what it says, as for a reader who starts there.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	parts := walkthroughParts(string(readme))
	if len(parts) < 5 || len(parts[0].blocks) < 5 {
		t.Fatalf("found %d sections with bash blocks in the README, want the CLI walkthrough", len(parts))
	}
	// Every ```bash block belongs to the walkthrough, which ends with its
	// own section.
	setup, end := parts[0].blocks[:2], parts[len(parts)-1]
	if end.title != "End of the walkthrough" {
		t.Fatalf("README section %q has ```bash blocks after the end of the walkthrough, which runs them all; use ```sh there", end.title)
	}
	if !strings.Contains(setup[0], "WORKDIR=$(mktemp -d)") || !strings.Contains(setup[1], "export AWS_ACCESS_KEY_ID=") ||
		len(end.blocks) != 1 || !strings.Contains(end.blocks[0], `rm -rf -- "${WORKDIR:?}"`) {
		t.Fatalf("the walkthrough no longer starts with its scratch directory and credentials and ends removing the directory:\n%q\n%q", setup, end.blocks)
	}
	parts[0].blocks, parts[0].nums = parts[0].blocks[2:], parts[0].nums[2:]
	parts = parts[:len(parts)-1]
	// With signatures and policies enforced, so the walkthrough of who may
	// do what shows real decisions; the README's credentials are the root's.
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir())
	if fips140.Enforced() {
		// In FIPS 140-only mode the blocks that use key specs outside the
		// Go Cryptographic Module cannot work; CreateKey must refuse those
		// specs with a clear message instead.
		for i := range parts {
			parts[i] = fipsBlocks(parts[i])
		}
		_, err := p.client(docKey, docSecret).CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: "ML_DSA_65", KeyUsage: "SIGN_VERIFY"})
		if errCode(err) != "UnsupportedOperationException" || !strings.Contains(err.Error(), "KeySpec ML_DSA_65 is not available in FIPS 140-only mode.") {
			t.Fatalf("ML_DSA_65 in FIPS 140-only mode: %v", err)
		}
	}
	// Each section must also leave the shell's credentials and directory
	// as it found them, so the sections still run in order in one shell,
	// as a reader pastes them.
	script := func(part walkthroughPart) string {
		var s strings.Builder
		s.WriteString("set -euo pipefail\n" + setup[0] + setup[1])
		s.WriteString("shell_before=$(env | grep '^AWS_' | sort; echo \"$PWD $OLDPWD $-\")\n")
		for i, b := range part.blocks {
			fmt.Fprintf(&s, "echo '--- block %d'\n%s\n", part.nums[i], b)
		}
		s.WriteString(`shell_after=$(env | grep '^AWS_' | sort; echo "$PWD $OLDPWD $-")
if [ "$shell_before" != "$shell_after" ]; then
  echo "the section left the shell changed:"; diff <(echo "$shell_before") <(echo "$shell_after") || true; exit 1
fi
`)
		s.WriteString(end.blocks[0])
		return strings.ReplaceAll(s.String(), "http://127.0.0.1:8080", p.url)
	}
	// The shells start where a reader's would, in the checkout (here an
	// empty directory), and their mktemp makes the scratch directories in tmp.
	checkout, tmp := t.TempDir(), t.TempDir()
	run := func(part walkthroughPart) string {
		cmd := exec.Command("bash", "-c", script(part))
		cmd.Dir = checkout
		cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "TMPDIR="+tmp,
			"PATH="+filepath.Dir(kmsdBin)+string(os.PathListSeparator)+os.Getenv("PATH")) // the README calls kmsd too
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("README section %q failed: %v\n%s", part.title, err, out)
		}
		return string(out)
	}
	// The reset section empties the server, so it comes last.
	for i, part := range parts {
		if strings.Contains(strings.Join(part.blocks, ""), "/kmsd/reset") != (i == len(parts)-1) {
			t.Fatalf("README section %q: the one section that resets the server must be the last before the walkthrough's end", part.title)
		}
	}
	var outs []string
	for _, part := range parts {
		outs = append(outs, run(part))
	}
	if t.Failed() {
		return
	}
	out := strings.Join(outs, "")
	// Plaintexts, data keys and private keys stay out of the checkout, and
	// the walkthrough deletes its scratch directory at the end.
	for dir, where := range map[string]string{checkout: "in the checkout", tmp: "in the temporary directory"} {
		entries, err := os.ReadDir(dir)
		var left []string
		for _, e := range entries {
			left = append(left, e.Name())
		}
		if err != nil || len(left) > 0 {
			t.Errorf("the README examples left %v %s (%v)", left, where, err)
		}
	}
	for _, want := range []string{
		"card 4111 1111 1111 1111", `"AliasName": "alias/orders"`, `"TagKey": "env"`, "PendingDeletion",
		"Enable IAM User Permissions", "Verified OK", "wire the money", "same secret",
		"AccessDeniedException) when calling the Encrypt operation: User: arn:aws:sts::111122223333:assumed-role/KeyAdmin/admin is not authorized to perform: kms:Encrypt",
		"AccessDeniedException) when calling the ScheduleKeyDeletion operation: User: arn:aws:sts::111122223333:assumed-role/App/worker is not authorized to perform: kms:ScheduleKeyDeletion on resource: arn:aws:kms:us-east-1:111122223333:key/",
		"with an explicit deny in a resource-based policy",
		"bob-apollo\tarn:aws:iam::111122223333:user/bob\tarn:aws:iam::111122223333:root",
		"User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:GenerateDataKey",
		"EXTERNAL\tPendingImport", "is pending import.", "imported and in use", "ON_DEMAND",
		"payment 42", "REPLICA\tus-west-2", "PendingReplicaDeletion\t7", `"KmsRequestId": "`,
		"kms:Decrypt\tallowed\t10\nkms:ScheduleKeyDeletion\texplicitDeny\t13\n",
		"  allowed\n  statement: key policy, line 10, column 5\n", "lacks: kms:EncryptionContext:tenant\n",
		"launch plan, tenant acme\n", "is gone after the reset",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("README run output lacks %q:\n%s", want, out)
		}
	}
}

// fipsBlocks leaves out of part the blocks that use key specs outside the
// Go Cryptographic Module.
func fipsBlocks(part walkthroughPart) walkthroughPart {
	kept := walkthroughPart{title: part.title}
	for i, b := range part.blocks {
		if strings.Contains(b, "ML_DSA_") || strings.Contains(b, "ECC_SECG_P256K1") || strings.Contains(b, "SM2") {
			continue
		}
		kept.blocks, kept.nums = append(kept.blocks, b), append(kept.nums, part.nums[i])
	}
	return kept
}

// TestWalkthroughParts checks the README's sections are read as the
// walkthrough test needs: code outside ```bash blocks, and "## " lines
// inside them, start no section, and a ```bash line inside another block
// starts no block.
func TestWalkthroughParts(t *testing.T) {
	readme := "# kmsd\n## One\ntext\n```bash\necho 1\n## not a title\n```\n```yaml\n## nor this\n```bash\n```\n" +
		"```bash\necho 2\n```\n## Two\n```sh\necho no\n```\n```bashrc\nno\n```\n## Three\n```bash\necho 3\n```\n"
	got := walkthroughParts(readme)
	want := []walkthroughPart{
		{title: "One", blocks: []string{"echo 1\n## not a title\n", "echo 2\n"}, nums: []int{1, 2}},
		{title: "Three", blocks: []string{"echo 3\n"}, nums: []int{3}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("walkthroughParts = %+v, want %+v", got, want)
	}
}
