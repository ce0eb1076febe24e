package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"
)

// TestSIGKILLDuringRotation kills kmsd while callers rotate keys on demand
// as fast as it answers and encrypt under them, so the kill lands in the
// middle of rotations. After each restart every key is consistent: its
// current material is the one current in its rotation history, no
// material is listed twice, every rotation a caller saw succeed is there,
// and every ciphertext a caller received decrypts. It runs kmsd serve in
// its default audit mode: every acknowledged request has its audit record,
// and the log verifies after every cycle.
func TestSIGKILLDuringRotation(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, akid, secret := serveCreds(t, data)
	c := p.client(akid, secret)

	type sealed struct {
		blob []byte
		pt   []byte
	}
	var (
		mu      sync.Mutex
		keys    []*string
		blobs   []sealed
		rotated = map[string]map[string]bool{} // per key, the material ids callers saw become current
		acked   []string                       // request ids of acknowledged calls
	)
	// ack records an acknowledged call's request id; the caller holds mu.
	// The goroutines use it, so it reports with t.Errorf, not t.Fatal.
	ack := func(md middleware.Metadata) bool {
		id, ok := awsmiddleware.GetRequestIDMetadata(md)
		if !ok || id == "" {
			t.Errorf("response carries no request id")
			return false
		}
		acked = append(acked, id)
		return true
	}
	for round := range 4 {
		// A fresh key each round: AWS allows 25 on-demand rotations a key.
		ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("rotated while killed")})
		if err != nil {
			t.Fatal(err)
		}
		keyID := ck.KeyMetadata.KeyId
		keys = append(keys, keyID)
		acked = append(acked, requestID(t, ck.ResultMetadata))
		rotated[*keyID] = map[string]bool{}
		mu.Lock()
		blobsBefore := len(blobs)
		mu.Unlock()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // rotate on demand until the server dies or the quota ends
			defer wg.Done()
			for {
				r, err := c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: keyID})
				if errCode(err) == "ThrottlingException" { // serve's quota: 5 a second
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if err != nil {
					return
				}
				mu.Lock()
				ok := ack(r.ResultMetadata)
				mu.Unlock()
				if !ok {
					return
				}
				d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: keyID})
				if err != nil {
					return
				}
				mu.Lock()
				rotated[*keyID][*d.KeyMetadata.CurrentKeyMaterialId] = true
				ok = ack(d.ResultMetadata)
				mu.Unlock()
				if !ok {
					return
				}
			}
		}()
		go func() { // encrypt, keeping every acknowledged ciphertext
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pt := []byte{byte(round), byte(i), byte(i >> 8)}
				out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: pt})
				if err != nil {
					return
				}
				mu.Lock()
				blobs = append(blobs, sealed{out.CiphertextBlob, pt})
				ok := ack(out.ResultMetadata)
				mu.Unlock()
				if !ok {
					return
				}
			}
		}()
		// Kill once the load is under way: at least one acknowledged
		// rotation and ciphertext this round, so the kill lands amid them
		// on a slow machine as on a fast one.
		time.Sleep(time.Duration(40+60*round) * time.Millisecond)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			started := len(rotated[*keyID]) > 0 && len(blobs) > blobsBefore
			mu.Unlock()
			if started {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no rotation and ciphertext acknowledged within a minute", round)
			}
		}
		p.kill()
		close(stop)
		wg.Wait()

		p = startKMSD(t, "serve", "--data", data)
		c = p.client(akid, secret)
		total := 0
		for _, id := range keys {
			total += checkRotationHistory(t, ctx, c, id, rotated[*id])
		}
		mu.Lock()
		for _, b := range blobs {
			out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: b.blob})
			if err != nil || !bytes.Equal(out.Plaintext, b.pt) {
				t.Fatalf("round %d: an acknowledged ciphertext no longer decrypts: %v", round, err)
			}
		}
		t.Logf("round %d: %d keys with %d rotations in all, %d ciphertexts decrypt", round, len(keys), total, len(blobs))
		// Every acknowledged request has its record: it was durable
		// before the answer left.
		inLog := auditRequestIDs(t, data)
		for _, id := range acked {
			if _, ok := inLog[id]; !ok {
				t.Fatalf("round %d: acknowledged request %s has no audit record", round, id)
			}
		}
		t.Logf("round %d: all %d acknowledged requests are in the audit log", round, len(acked))
		mu.Unlock()
		// And the log verifies.
		p.stop()
		verifyAuditLog(t, data)
		p = startKMSD(t, "serve", "--data", data)
		c = p.client(akid, secret)
	}
}

// verifyAuditLog runs kmsd audit verify on a stopped server's data
// directory: the chain, and the signed digests with the public key and
// anchor kept in the store.
func verifyAuditLog(t *testing.T, data string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--data", data}, &out, &out, os.Getenv); err != nil {
		t.Fatalf("kmsd audit verify: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "signed digests: ") || !strings.Contains(out.String(), "anchor: ") {
		t.Fatalf("kmsd audit verify --data checked no signed digest or anchor:\n%s", out.String())
	}
}

// checkRotationHistory checks one key after a crash and returns how many
// rotations its history lists.
func checkRotationHistory(t *testing.T, ctx context.Context, c *kms.Client, keyID *string, acknowledged map[string]bool) int {
	t.Helper()
	d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: keyID})
	if err != nil {
		t.Fatalf("describe %s after SIGKILL: %v", *keyID, err)
	}
	var history []types.RotationsListEntry
	pages := kms.NewListKeyRotationsPaginator(c, &kms.ListKeyRotationsInput{KeyId: keyID, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("list rotations of %s: %v", *keyID, err)
		}
		history = append(history, page.Rotations...)
	}
	seen := map[string]bool{}
	current := 0
	for _, r := range history {
		id := aws.ToString(r.KeyMaterialId)
		if seen[id] {
			t.Fatalf("%s: material %s listed twice", *keyID, id)
		}
		seen[id] = true
		if r.KeyMaterialState == types.KeyMaterialStateCurrent {
			current++
			if id != *d.KeyMetadata.CurrentKeyMaterialId {
				t.Fatalf("%s: the history says %s is current, DescribeKey says %s", *keyID, id, *d.KeyMetadata.CurrentKeyMaterialId)
			}
		}
	}
	if current != 1 {
		t.Fatalf("%s: %d current materials among %d", *keyID, current, len(history))
	}
	if len(history)-1 > 25 {
		t.Fatalf("%s: %d on-demand rotations, above the quota of 25", *keyID, len(history)-1)
	}
	for id := range acknowledged {
		if !seen[id] {
			t.Fatalf("%s: the acknowledged rotation to %s was lost", *keyID, id)
		}
	}
	return len(history) - 1
}
