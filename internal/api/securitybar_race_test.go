package api_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// sealed is a ciphertext made during a race, with what it must decrypt to.
type sealed struct {
	pt, blob []byte
}

// TestBarEncryptDuringRotation is part of check 26: Encrypts from several
// goroutines while the key is rotated on demand 25 times never fail, and
// every ciphertext decrypts to what was sent, under the version it names.
func TestBarEncryptDuringRotation(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("rotating").KeyId)
	var done atomic.Bool
	rotErr := make(chan error, 1)
	go func() {
		defer done.Store(true)
		for range 25 {
			if _, err := s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)}); err != nil {
				rotErr <- err
				return
			}
		}
		rotErr <- nil
	}()
	const workers, most = 6, 300
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		made    []sealed
		failure atomic.Value
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < most && !done.Load(); i++ {
				pt := fmt.Appendf(nil, "worker %d message %d", w, i)
				out, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt})
				if err != nil {
					failure.Store(err)
					return
				}
				mu.Lock()
				made = append(made, sealed{pt, out.CiphertextBlob})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := <-rotErr; err != nil {
		t.Fatalf("RotateKeyOnDemand: %v", err)
	}
	if err, _ := failure.Load().(error); err != nil {
		t.Fatalf("Encrypt during rotation: %v", err)
	}
	versions := map[string]bool{}
	for _, m := range made {
		dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: m.blob})
		if err != nil || !bytes.Equal(dec.Plaintext, m.pt) {
			t.Fatalf("ciphertext of %q: %v", m.pt, err)
		}
		if got, want := aws.ToString(dec.KeyMaterialId), parseBlob(t, m.blob).materialID; got != want {
			t.Fatalf("decrypted with material %s, the blob names %s", got, want)
		}
		versions[aws.ToString(dec.KeyMaterialId)] = true
	}
	t.Logf("%d ciphertexts under %d versions", len(made), len(versions))
	if len(made) == 0 {
		t.Fatal("no Encrypt ran during the rotations")
	}
}

// TestBarScheduleDeletionRacingEncrypt is part of check 26: once
// ScheduleKeyDeletion is acknowledged, no Encrypt that starts afterwards
// succeeds; the ones that ran before it decrypt after CancelKeyDeletion.
func TestBarScheduleDeletionRacingEncrypt(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("doomed").KeyId)
	var acked atomic.Bool
	const workers, each = 8, 40
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		made      []sealed
		violation atomic.Value
		succeeded atomic.Int64
	)
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range each {
				before := acked.Load()
				pt := fmt.Appendf(nil, "w%d-%d", w, i)
				out, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt})
				switch {
				case err == nil && before:
					violation.Store(fmt.Errorf("Encrypt %d of worker %d succeeded after the deletion was acknowledged", i, w))
					return
				case err == nil:
					succeeded.Add(1)
					mu.Lock()
					made = append(made, sealed{pt, out.CiphertextBlob})
					mu.Unlock()
				default:
					if code, msg := apiErrorParts(err); code != "KMSInvalidStateException" || !strings.HasSuffix(msg, " is pending deletion.") {
						violation.Store(fmt.Errorf("Encrypt: %s %q", code, msg))
						return
					}
				}
			}
		})
	}
	close(start)
	// Schedule the deletion while the workers are busy.
	for deadline := time.Now().Add(10 * time.Second); succeeded.Load() < workers && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	acked.Store(true)
	wg.Wait()
	if err, _ := violation.Load().(error); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	for _, m := range made {
		if dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: m.blob}); err != nil || !bytes.Equal(dec.Plaintext, m.pt) {
			t.Fatalf("ciphertext of %q: %v", m.pt, err)
		}
	}
	t.Logf("%d Encrypts succeeded before the deletion", len(made))
}

// TestBarConcurrentPutKeyPolicy is part of check 26: concurrent
// PutKeyPolicy calls leave one whole policy (the last writer's), and
// readers meanwhile only ever see whole policies.
func TestBarConcurrentPutKeyPolicy(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("contested").KeyId)
	policyN := func(n int) string {
		// Policies of different lengths, so a torn write cannot pass for a whole one.
		return `{"Version":"2012-10-17","Statement":[{"Sid":"writer` + fmt.Sprint(n) + strings.Repeat("x", n*97) + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount +
			`:root"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"` + testAccount + `"}}}]}`
	}
	def, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	whole := map[string]bool{aws.ToString(def.Policy): true}
	const writers, rounds = 8, 10
	for n := range writers {
		whole[policyN(n)] = true
	}
	var (
		wg      sync.WaitGroup
		failure atomic.Value
		stop    atomic.Bool
	)
	for n := range writers {
		wg.Go(func() {
			for range rounds {
				if _, err := s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(policyN(n))}); err != nil {
					failure.Store(err)
					return
				}
			}
		})
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for !stop.Load() {
			got, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
			if err != nil || !whole[aws.ToString(got.Policy)] {
				failure.Store(fmt.Errorf("GetKeyPolicy during the writes: %v, a policy no writer sent: %.80q", err, aws.ToString(got.Policy)))
				return
			}
		}
	}()
	wg.Wait()
	stop.Store(true)
	<-readerDone
	if err, _ := failure.Load().(error); err != nil {
		t.Fatal(err)
	}
	// The last write wins.
	final := policyN(writers + 1)
	if _, err := s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(final)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)}); err != nil || aws.ToString(got.Policy) != final {
		t.Fatalf("after the last write: %v", err)
	}
}

// kmsdGoroutines returns the stacks of goroutines, other than the caller,
// running kmsd code.
func kmsdGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(g, "github.com/kmsd/kmsd/internal/") && !strings.Contains(g, "_test.") {
			out = append(out, g)
		}
	}
	return out
}

// TestBarNoGoroutineLeftBehind is the goroutine part of check 26 (without
// goleak, which is not a dependency): after a workload with errors and a
// shutdown, no goroutine runs kmsd code any more.
func TestBarNoGoroutineLeftBehind(t *testing.T) {
	if left := kmsdGoroutines(); len(left) != 0 {
		t.Fatalf("kmsd goroutines before the test:\n%s", strings.Join(left, "\n\n"))
	}
	s := newServer(t)
	id := aws.ToString(s.createKey("busy").KeyId)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 20 {
				out, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: fmt.Appendf(nil, "%d/%d", w, i)})
				if err != nil { // a goroutine must not call t.Fatal
					t.Errorf("Encrypt: %v", err)
					return
				}
				blob := out.CiphertextBlob
				_, _ = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob[:len(blob)-1]})
				_, _ = s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/none")})
			}
		})
	}
	wg.Wait()
	s.rotateOnDemand(id)
	if len(kmsdGoroutines()) == 0 {
		t.Fatal("no kmsd goroutine is seen while the server runs (its audit writer): the check would see no leak either")
	}
	s.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := kmsdGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d kmsd goroutines still run after shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
