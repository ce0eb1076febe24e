package keys

import (
	"bytes"
	"crypto/fips140"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Project Wycheproof's test vectors (github.com/c2sp/wycheproof, pinned in
// go.mod and kept there by wycheproof_tools.go) run against the primitives
// here, through the same code paths as the KMS operations: publicKey.verify
// for Verify, and ParsePrivate followed by Decrypt, DeriveSharedSecret,
// Sign and Decapsulate, MAC and VerifyMAC. Every case of every file is run
// unless it is filtered for a stated reason; each file logs its counts.

const wycheproofModule = "github.com/c2sp/wycheproof"

// wycheproofVectors returns the directory of the JSON vectors, downloading
// the module into the module cache when it is missing. go test puts the
// go command of its own GOROOT first in PATH.
func wycheproofVectors(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to locate the Wycheproof vectors: %v", err)
	}
	out, err := exec.Command(goBin, "mod", "download", "-json", wycheproofModule).Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); err != nil || jerr != nil || mod.Error != "" || mod.Dir == "" {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go mod download %s: %v %s %s", wycheproofModule, err, mod.Error, stderr)
	}
	dir := filepath.Join(mod.Dir, "testvectors_v1")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Wycheproof vectors: %v", err)
	}
	return dir
}

// wpHex is a hex-encoded byte string of a vector.
type wpHex []byte

func (h *wpHex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// wpFile holds the fields of every Wycheproof schema used here.
type wpFile struct {
	NumberOfTests int       `json:"numberOfTests"`
	TestGroups    []wpGroup `json:"testGroups"`
}

type wpGroup struct {
	KeySize         int             `json:"keySize"`
	TagSize         int             `json:"tagSize"`
	SHA             string          `json:"sha"`
	MGF             string          `json:"mgf"`
	MGFSHA          string          `json:"mgfSha"`
	SLen            int             `json:"sLen"`
	Curve           string          `json:"curve"`
	Encoding        string          `json:"encoding"`
	ParameterSet    string          `json:"parameterSet"`
	PublicKey       json.RawMessage `json:"publicKey"` // hex for ML-DSA, an object for RSA
	PublicKeyDER    wpHex           `json:"publicKeyDer"`
	PublicKeyASN    wpHex           `json:"publicKeyAsn"`
	PrivateKeyPKCS8 wpHex           `json:"privateKeyPkcs8"`
	PrivateSeed     wpHex           `json:"privateSeed"`
	Tests           []wpCase        `json:"tests"`
}

type wpCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
	Msg     wpHex    `json:"msg"`
	Sig     wpHex    `json:"sig"`
	Ct      wpHex    `json:"ct"`
	Label   wpHex    `json:"label"`
	Ctx     *wpHex   `json:"ctx"` // absent, or present and possibly empty
	Public  wpHex    `json:"public"`
	Private wpHex    `json:"private"`
	Shared  wpHex    `json:"shared"`
	Key     wpHex    `json:"key"`
	Tag     wpHex    `json:"tag"`
	Seed    wpHex    `json:"seed"`
	Ek      wpHex    `json:"ek"`
	C       wpHex    `json:"c"`
	K       wpHex    `json:"K"`
}

func (c *wpCase) String() string {
	return fmt.Sprintf("tcId %d (%s %v)", c.TcID, c.Comment, c.Flags)
}

// wpRun is one vector file's run: it counts the cases run and filtered,
// and reports every disagreement with the file name and tcId.
type wpRun struct {
	t             *testing.T
	file          string
	run, filtered int
}

// wycheproof runs check on the parsed file name as a parallel subtest. In
// FIPS 140-only mode a file of a spec or algorithm this package refuses
// there is not run: refused checks the refusal once instead and reports
// true.
func wycheproof(t *testing.T, dir, name string, refused func(*testing.T) bool, check func(*wpRun, *wpFile)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		if fips140.Enforced() && refused != nil && refused(t) {
			t.Logf("%s: refused in FIPS 140-only mode, as it must be", name)
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var f wpFile
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := &wpRun{t: t, file: name}
		check(r, &f)
		t.Logf("%s: %d cases run, %d filtered", name, r.run, r.filtered)
		if r.run+r.filtered != f.NumberOfTests {
			t.Errorf("%s: %d cases run and %d filtered, but the file has %d", name, r.run, r.filtered, f.NumberOfTests)
		}
		if r.run == 0 {
			t.Errorf("%s: no case run", name)
		}
	})
}

// refusedSpec is a refused function for a spec FIPSApproved rejects.
func refusedSpec(spec string) func(*testing.T) bool {
	return func(t *testing.T) bool { return refusedInFIPS(t, spec) }
}

// expect runs op for case c and checks its outcome against the vector:
// "valid" must succeed, "invalid" must fail with wantErr, "acceptable" may
// do either (a failure still with wantErr; with a nil wantErr, kmsd must
// not fail); a panic is always a failure.
// It reports whether op succeeded on a case that is not invalid, that is,
// whether the caller should compare op's outputs with the vector's.
func (r *wpRun) expect(c *wpCase, wantErr error, op func() error) bool {
	r.t.Helper()
	r.run++
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return op()
	}()
	switch {
	case c.Result != "valid" && c.Result != "invalid" && c.Result != "acceptable":
		r.t.Errorf("%s %s: unknown result %q", r.file, c, c.Result)
	case err == nil && c.Result == "invalid":
		r.t.Errorf("%s %s: invalid case accepted", r.file, c)
	case err != nil && c.Result == "valid":
		r.t.Errorf("%s %s: valid case rejected: %v", r.file, c, err)
	case err != nil && !errors.Is(err, wantErr):
		r.t.Errorf("%s %s: rejected with %v, want %v", r.file, c, err, wantErr)
	}
	return err == nil && c.Result != "invalid"
}

// mismatch reports an output of an accepted case that differs from the
// vector's.
func (r *wpRun) mismatch(c *wpCase, what string, got, want []byte) {
	r.t.Helper()
	if !bytes.Equal(got, want) {
		r.t.Errorf("%s %s: %s is %x, want %x", r.file, c, what, got, want)
	}
}

// filter counts the cases of a group that do not apply to kmsd.
func (r *wpRun) filter(g *wpGroup) { r.filtered += len(g.Tests) }

// hashSize is the output size of the SHA-2 hashes AWS pairs with RSA.
func hashSize(sha string) int {
	switch sha {
	case "SHA-256":
		return 32
	case "SHA-384":
		return 48
	case "SHA-512":
		return 64
	}
	return 0
}

// rsaSpec is the KeySpec of an RSA modulus size, "" for sizes AWS lacks.
func rsaSpec(bits int) string {
	for _, spec := range []string{"RSA_2048", "RSA_3072", "RSA_4096"} {
		if rsaBits(spec) == bits {
			return spec
		}
	}
	return ""
}

func TestWycheproof(t *testing.T) {
	dir := wycheproofVectors(t)
	for _, family := range []struct {
		name string
		run  func(*testing.T, string)
	}{
		{"ECDSA", wycheproofECDSA},
		{"Ed25519", wycheproofEd25519},
		{"RSA-PKCS1", wycheproofRSAPKCS1},
		{"RSA-PKCS1-sign", wycheproofRSAPKCS1Sign},
		{"RSA-PSS", wycheproofRSAPSS},
		{"RSA-OAEP", wycheproofRSAOAEP},
		{"ECDH", wycheproofECDH},
		{"HMAC", wycheproofHMAC},
		{"ML-DSA", wycheproofMLDSA},
		{"ML-KEM", wycheproofMLKEM},
	} {
		t.Run(family.name, func(t *testing.T) { family.run(t, dir) })
	}
}
