package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// signedTrail is a signed log with its key and an anchor kept outside the
// log directory.
type signedTrail struct {
	path   string
	key    ed25519.PrivateKey
	anchor FileAnchor
}

func newSignedTrail(t *testing.T) *signedTrail {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signedTrail{path: logPath(t), key: key, anchor: FileAnchor{Path: filepath.Join(t.TempDir(), "anchor.json")}}
}

func (s *signedTrail) opts() Options {
	return Options{Signer: s.key, Anchor: s.anchor, FailClosed: true}
}

// session opens the log, appends n records and closes it, which signs a
// digest covering them.
func (s *signedTrail) session(t *testing.T, prefix string, n int) {
	t.Helper()
	l := openLog(t, s.path, s.opts())
	appendN(t, l, prefix, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func (s *signedTrail) verifyOpts(t *testing.T) VerifyOptions {
	t.Helper()
	st, err := s.anchor.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return VerifyOptions{PublicKeys: []crypto.PublicKey{s.key.Public()}, Anchor: &st}
}

// rechain rewrites lines with a freshly computed chain, as someone who can
// write the log directory but holds no signing key would after editing
// records, and rewrites the head file to match.
func rechain(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	var prev [hashSize]byte
	var out [][]byte
	var first, seq uint64
	for _, ln := range lines {
		p, err := parseLine(bytes.TrimSuffix(ln, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if first == 0 {
			first, prev, seq = p.seq, p.prev, p.seq-1
		}
		seq++
		body := append(slices.Clone(p.bodyHead), '}')
		// The published recipe, written out independently of appendLine.
		h := sha256.New()
		h.Write(prev[:])
		binary.Write(h, binary.BigEndian, seq)
		h.Write(body)
		var sum [hashSize]byte
		copy(sum[:], h.Sum(nil))
		line := string(p.bodyHead) + `,"kmsdChain":{"seq":` + strconv.FormatUint(seq, 10) + `,"prev":"` + hex.EncodeToString(prev[:]) +
			`","hash":"` + hex.EncodeToString(sum[:]) + "\"}}\n"
		out = append(out, []byte(line))
		prev = sum
	}
	writeLines(t, path, out)
	start := link{seq: first - 1}
	if len(lines) > 0 {
		p, _ := parseLine(bytes.TrimSuffix(lines[0], []byte("\n")))
		start.hash = p.prev
	}
	if err := writeHead(path+headSuffix, head{start: start, last: link{seq: seq, hash: prev}}); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyFile(path); err != nil {
		t.Fatalf("the forged chain should pass the unsigned check: %v", err)
	}
}

func TestSignedVerifyDetectsTampering(t *testing.T) {
	const logFile, digestsFile = "log", "digests"
	cases := []struct {
		name     string
		tamper   func(t *testing.T, s *signedTrail)
		wantFile string
		wantLine int
	}{
		{"edited record", func(t *testing.T, s *signedTrail) {
			ls := readLines(t, s.path)
			ls[1] = bytes.Replace(ls[1], []byte(`"Encrypt"`), []byte(`"Decrypt"`), 1)
			writeLines(t, s.path, ls)
		}, logFile, 2},
		{"inserted record", func(t *testing.T, s *signedTrail) {
			writeLines(t, s.path, slices.Insert(readLines(t, s.path), 3, readLines(t, s.path)[0]))
		}, logFile, 4},
		{"deleted record", func(t *testing.T, s *signedTrail) {
			writeLines(t, s.path, slices.Delete(readLines(t, s.path), 2, 3))
		}, logFile, 3},
		{"reordered records", func(t *testing.T, s *signedTrail) {
			ls := readLines(t, s.path)
			ls[3], ls[4] = ls[4], ls[3]
			writeLines(t, s.path, ls)
		}, logFile, 4},
		{"tail cut and head deleted", func(t *testing.T, s *signedTrail) {
			writeLines(t, s.path, readLines(t, s.path)[:4])
			os.Remove(s.path + headSuffix)
		}, logFile, 5},
		{"tail cut and head rewritten", func(t *testing.T, s *signedTrail) {
			rechain(t, s.path, readLines(t, s.path)[:4])
		}, logFile, 5},
		{"file emptied and head deleted", func(t *testing.T, s *signedTrail) {
			writeLines(t, s.path, nil)
			os.Remove(s.path + headSuffix)
		}, logFile, 1},
		{"first records and head deleted", func(t *testing.T, s *signedTrail) {
			writeLines(t, s.path, readLines(t, s.path)[2:])
			os.Remove(s.path + headSuffix)
		}, logFile, 1},
		{"digests file deleted", func(t *testing.T, s *signedTrail) {
			os.Remove(DigestsPath(s.path))
		}, digestsFile, 0},
		{"record edited and chain recomputed", func(t *testing.T, s *signedTrail) {
			ls := readLines(t, s.path)
			ls[4] = bytes.Replace(ls[4], []byte(`"Encrypt"`), []byte(`"Decrypt"`), 1)
			rechain(t, s.path, ls)
		}, logFile, 4}, // after the record digest 1 pins (seq 3)
		{"last digest and tail removed, head deleted", func(t *testing.T, s *signedTrail) {
			writeLines(t, DigestsPath(s.path), readLines(t, DigestsPath(s.path))[:1])
			writeLines(t, s.path, readLines(t, s.path)[:3])
			os.Remove(s.path + headSuffix)
		}, digestsFile, 2}, // the anchor knows digest 2
		{"digest edited", func(t *testing.T, s *signedTrail) {
			ls := readLines(t, DigestsPath(s.path))
			ls[0] = bytes.Replace(ls[0], []byte(`"lastSeq":3`), []byte(`"lastSeq":2`), 1)
			writeLines(t, DigestsPath(s.path), ls)
		}, digestsFile, 1},
		{"digests reordered", func(t *testing.T, s *signedTrail) {
			ls := readLines(t, DigestsPath(s.path))
			writeLines(t, DigestsPath(s.path), [][]byte{ls[1], ls[0]})
		}, digestsFile, 1},
		{"digests re-signed with another key", func(t *testing.T, s *signedTrail) {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			var out [][]byte
			for _, ln := range readLines(t, DigestsPath(s.path)) {
				sd, err := parseDigestLine(bytes.TrimSuffix(ln, []byte("\n")))
				if err != nil {
					t.Fatal(err)
				}
				sd.Fingerprint, _ = Fingerprint(other.Public())
				line, _, err := signedLine(other, sd.digest)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, line)
			}
			writeLines(t, DigestsPath(s.path), out)
		}, digestsFile, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSignedTrail(t)
			s.session(t, "a", 3)
			s.session(t, "b", 3)
			rep, err := Verify(s.path, s.verifyOpts(t))
			if err != nil || rep.Records != 6 || rep.Digests != 2 || rep.SignedThrough != 6 || !rep.Anchored {
				t.Fatalf("intact trail: %+v, %v", rep, err)
			}
			c.tamper(t, s)
			_, err = Verify(s.path, s.verifyOpts(t))
			var verr *VerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			wantPath := s.path
			if c.wantFile == digestsFile {
				wantPath = DigestsPath(s.path)
			}
			if verr.Path != wantPath || verr.Line != c.wantLine {
				t.Errorf("error names %s line %d, want %s line %d: %v", verr.Path, verr.Line, wantPath, c.wantLine, err)
			}
			t.Log(err)
		})
	}
}

func TestSignedVerifyAcrossRotationAndReopen(t *testing.T) {
	s := newSignedTrail(t)
	s.session(t, "a", 4)
	l := openLog(t, s.path, s.opts())
	appendN(t, l, "b", 3)
	rotated := s.path + ".1"
	if err := os.Rename(s.path, rotated); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "c", 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s.session(t, "d", 2)

	opts := s.verifyOpts(t)
	rep, err := Verify(s.path, opts)
	if err != nil || rep.FirstSeq != 8 || rep.LastSeq != 14 || rep.SignedThrough != 14 || rep.NextFileSeq != 0 || !rep.Anchored {
		t.Fatalf("current file: %+v, %v", rep, err)
	}
	opts.DigestsPath = DigestsPath(s.path)
	old, err := Verify(rotated, opts)
	if err != nil || old.LastSeq != 7 || old.NextFileSeq != 8 || old.LastHash != rep.FirstPrev {
		t.Fatalf("rotated file: %+v, %v", old, err)
	}

	// The rotated file's tail cut away is found through the digests.
	writeLines(t, rotated, readLines(t, rotated)[:5])
	var verr *VerifyError
	if _, err := Verify(rotated, opts); !errors.As(err, &verr) || verr.Line != 6 {
		t.Fatalf("rotated file cut short: %v, want an error at line 6", err)
	}
}

func TestPublicKeyPEMBesideLog(t *testing.T) {
	s := newSignedTrail(t)
	s.session(t, "a", 1)
	b, err := os.ReadFile(s.path + PublicKeySuffix)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParsePublicKeysPEM(b)
	if err != nil || len(keys) != 1 || !s.key.Public().(ed25519.PublicKey).Equal(keys[0]) {
		t.Fatalf("PEM beside the log holds %v, %v", keys, err)
	}
	// A new signing key is added; the old one stays for the old digests.
	s2 := *s
	_, s2.key, _ = ed25519.GenerateKey(rand.Reader)
	s2.session(t, "b", 1)
	b, _ = os.ReadFile(s.path + PublicKeySuffix)
	if keys, err = ParsePublicKeysPEM(b); err != nil || len(keys) != 2 {
		t.Fatalf("after a key change: %d keys, %v", len(keys), err)
	}
	rep, err := Verify(s.path, VerifyOptions{PublicKeys: keys})
	if err != nil || rep.Digests != 2 || rep.SignedThrough != 2 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if _, err := Verify(s.path, VerifyOptions{PublicKeys: keys[1:]}); err == nil {
		t.Fatal("digests of the old key verified without it")
	}
}

func TestECDSAP256DigestKey(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := logPath(t)
	l := openLog(t, path, Options{Signer: key})
	appendN(t, l, "a", 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(path, VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}})
	if err != nil || rep.SignedThrough != 3 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if !bytes.Contains(readLines(t, DigestsPath(path))[0], []byte(`"digestSignatureAlgorithm":"SHA256withECDSA"`)) {
		t.Error("digest does not name SHA256withECDSA")
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(logPath(t), Options{Signer: p384}); err == nil {
		t.Error("OpenFile accepted a P-384 digest key")
	}
}

func FuzzParseDigestLine(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	fp, _ := Fingerprint(key.Public())
	line, _, err := signedLine(key, digest{Version: digestVersion, Seq: 1, StartTime: "2025-01-02T03:04:05Z",
		EndTime: "2025-01-02T03:05:05Z", FirstSeq: 1, LastSeq: 0, FileFirstSeq: 1, ChainHash: zeroHex,
		Fingerprint: fp, Algorithm: AlgEd25519})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(line[:len(line)-1])
	f.Add([]byte(`{"signature":""}`))
	f.Add([]byte(`{"kmsdDigestVersion":1,"signature":"00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := parseDigestLine(b)
		if err != nil {
			return
		}
		// What parses is its body and signature put back together.
		again := append(bytes.Clone(sd.body[:len(sd.body)-1]), signatureMarker...)
		again = append(hex.AppendEncode(again, sd.sig), `"}`...)
		if !bytes.EqualFold(again, b) {
			t.Fatalf("parse/encode mismatch:\n%q\n%q", b, again)
		}
	})
}

// The digest format as doc.go states it, checked with nothing but the
// standard library, as an auditor's own verifier would.
func TestDigestFormatAsDocumented(t *testing.T) {
	s := newSignedTrail(t)
	s.session(t, "a", 2)
	s.session(t, "b", 1)
	records := readLines(t, s.path)
	var prevBody []byte
	var prevSig string
	for i, ln := range readLines(t, DigestsPath(s.path)) {
		ln = bytes.TrimSuffix(ln, []byte("\n"))
		cut := bytes.LastIndex(ln, []byte(`,"signature":"`))
		body := append(slices.Clone(ln[:cut]), '}')
		sigHex := string(ln[cut+len(`,"signature":"`) : len(ln)-2])
		sig, err := hex.DecodeString(sigHex)
		if err != nil {
			t.Fatal(err)
		}
		if !ed25519.Verify(s.key.Public().(ed25519.PublicKey), append([]byte("kmsd-audit-digest-v1\n"), body...), sig) {
			t.Fatalf("digest %d: signature does not verify as documented", i+1)
		}
		var d map[string]any
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		// chainHash is the kmsdChain hash of the record at lastSeq.
		var rec struct {
			Chain struct {
				Hash string `json:"hash"`
			} `json:"kmsdChain"`
		}
		if err := json.Unmarshal(records[int(d["lastSeq"].(float64))-1], &rec); err != nil {
			t.Fatal(err)
		}
		if d["chainHash"] != rec.Chain.Hash {
			t.Errorf("digest %d: chainHash %v, record's hash %s", i+1, d["chainHash"], rec.Chain.Hash)
		}
		if prevBody == nil {
			if d["previousDigestHash"] != nil || d["previousDigestSignature"] != nil {
				t.Errorf("digest 1 names a previous digest: %s", body)
			}
		} else {
			sum := sha256.Sum256(prevBody)
			if d["previousDigestHash"] != hex.EncodeToString(sum[:]) || d["previousDigestSignature"] != prevSig {
				t.Errorf("digest %d does not chain to the one before: %s", i+1, body)
			}
		}
		fp, _ := Fingerprint(s.key.Public())
		if d["digestPublicKeyFingerprint"] != fp || d["digestSignatureAlgorithm"] != "Ed25519" || d["kmsdDigestVersion"] != 1.0 {
			t.Errorf("digest %d: %s", i+1, body)
		}
		prevBody, prevSig = body, sigHex
	}
	if prevBody == nil {
		t.Fatal("no digests")
	}
}
