// Command ctprobe runs one of kmsd's secret comparisons many times on an
// input that differs from the right one in its first or its last byte, so
// that callgrind can count the instructions of each (see
// securitybar_ct_test.go). It exits non-zero if a comparison ever succeeds.
//
// Usage: ctprobe sigv4|verifymac|granttoken|sealtag|control first|last
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

const rounds = 64

func main() {
	if len(os.Args) != 3 || (os.Args[2] != "first" && os.Args[2] != "last") {
		fail("usage: ctprobe target first|last")
	}
	last := os.Args[2] == "last"
	readsTheCycleCounter()
	probes := map[string]func(bool) error{"sigv4": sigV4, "verifymac": verifyMAC, "granttoken": grantToken, "sealtag": sealTag, "control": control}
	probe, ok := probes[os.Args[1]]
	if !ok {
		fail("unknown target " + os.Args[1])
	}
	if err := probe(last); err != nil {
		fail(err.Error())
	}
}

// readsTheCycleCounter makes the runtime read the CPU's cycle counter, as
// it does now and then on its own (a thread waiting for a runtime lock), so
// a valgrind that cannot decode the instruction the runtime uses fails the
// probe every time rather than at random (see collectedOnce).
func readsTheCycleCounter() {
	runtime.SetBlockProfileRate(1)
	ch := make(chan struct{})
	go func() { ch <- struct{}{} }()
	<-ch
	runtime.SetBlockProfileRate(0)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "ctprobe:", msg)
	os.Exit(1)
}

// otherInClass changes a hex digit to another of the same class (0-9 or
// a-f), so decoding it takes the same path.
func otherInClass(c byte) byte {
	switch c {
	case '0':
		return '1'
	case 'a':
		return 'b'
	}
	if c <= '9' {
		return '0'
	}
	return 'a'
}

func sigV4(last bool) error {
	const secretKey = "ctprobe-secret-access-key-0123456789"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := `{"KeyId":"alias/app","Plaintext":"aGVsbG8="}`
	req, _ := http.NewRequest(http.MethodPost, "https://kms.us-east-1.amazonaws.com/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIACTPROBE000000001", SecretAccessKey: secretKey}, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", at); err != nil {
		return err
	}
	v := &sigv4.Verifier{Credentials: creds{"AKIACTPROBE000000001": secret.Bytes(secretKey)}, Now: func() time.Time { return at }}
	if _, err := v.Verify(context.Background(), req, []byte(body)); err != nil {
		return fmt.Errorf("the untampered request: %w", err)
	}
	h := req.Header.Get("Authorization")
	i := strings.Index(h, "Signature=") + len("Signature=")
	sig := []byte(h[i:])
	j := 0
	if last {
		j = len(sig) - 1
	}
	sig[j] = otherInClass(sig[j])
	req.Header.Set("Authorization", h[:i]+string(sig))
	for range rounds {
		if _, err := v.Verify(context.Background(), req, []byte(body)); err == nil {
			return fmt.Errorf("a tampered signature verified")
		}
	}
	return nil
}

type creds map[string]secret.Bytes

func (c creds) SigningSecret(_ context.Context, akid string) (sigv4.Secret, error) {
	return sigv4.Secret{Key: c[akid]}, nil
}

func verifyMAC(last bool) error {
	key := secret.Bytes(bytes.Repeat([]byte{7}, 32))
	msg := []byte("webhook body")
	mac, err := keys.MAC("HMAC_256", "HMAC_SHA_256", key, msg)
	if err != nil {
		return err
	}
	mac[flipAt(len(mac), 0, last)] ^= 1
	for range rounds {
		if keys.VerifyMAC("HMAC_256", "HMAC_SHA_256", key, msg, mac) == nil {
			return fmt.Errorf("a wrong MAC verified")
		}
	}
	return nil
}

// flipAt is the index to change: from, or the last byte.
func flipAt(n, from int, last bool) int {
	if last {
		return n - 1
	}
	return from
}

func sealTag(last bool) error {
	dir, err := os.MkdirTemp("", "ctprobe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		return err
	}
	aad := []byte("kmsd/import-token/v1|probe")
	sealed, err := sl.Seal(secret.Bytes("an import token's wrapping key and its validity"), aad)
	if err != nil {
		return err
	}
	// The last 16 bytes are the GCM tag: its first byte, or its last.
	sealed[flipAt(len(sealed), len(sealed)-16, last)] ^= 1
	for range rounds {
		if _, err := sl.Unseal(sealed, aad); err == nil {
			return fmt.Errorf("a tampered token unsealed")
		}
	}
	return nil
}

func grantToken(last bool) error {
	dir, err := os.MkdirTemp("", "ctprobe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		return err
	}
	svc, err := kms.New(kms.Config{Store: st, Sealer: sl, Authorizer: kms.AccountOwner{}})
	if err != nil {
		return err
	}
	ctx := context.Background()
	call := func() *kms.Call { return &kms.Call{Caller: kms.RootCaller("111122223333", "us-east-1")} }
	k, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{})
	if err != nil {
		return err
	}
	g, err := svc.CreateGrant(ctx, call(), &kmsapi.CreateGrantInput{KeyId: k.KeyMetadata.KeyId, GranteePrincipal: "arn:aws:iam::111122223333:user/bob", Operations: []kmsapi.GrantOperation{"Encrypt"}})
	if err != nil {
		return err
	}
	raw, err := base64.RawURLEncoding.DecodeString(g.GrantToken)
	if err != nil {
		return err
	}
	// The token ends with its MAC tag: change its 16th byte from the end, or its last.
	raw[flipAt(len(raw), len(raw)-16, last)] ^= 1
	token := base64.RawURLEncoding.EncodeToString(raw)
	for range rounds {
		if _, err := svc.RetireGrant(ctx, call(), &kmsapi.RetireGrantInput{GrantToken: token}); err == nil {
			return fmt.Errorf("a tampered grant token retired the grant")
		}
	}
	return nil
}

// control compares with ==, which stops at the first difference, so the
// test can show that callgrind sees the difference the others must not have.
func control(last bool) error {
	a := bytes.Repeat([]byte{1}, 32)
	b := bytes.Clone(a)
	b[flipAt(len(b), 0, last)] ^= 1
	for range rounds {
		if plainEqual(a, b) {
			return fmt.Errorf("different bytes compared equal")
		}
	}
	return nil
}

//go:noinline
func plainEqual(a, b []byte) bool { return string(a) == string(b) }
