package api_test

import (
	"bytes"
	"context"
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

// firstError keeps the first error that goroutines report, and cancels
// the test's context so that nobody waits on a goroutine that gave up.
type firstError struct {
	once   sync.Once
	err    error
	cancel context.CancelFunc
}

func (f *firstError) set(err error) {
	f.once.Do(func() { f.err = err })
	f.cancel()
}

// TestBarEncryptDuringRotation is part of check 26: Encrypts from several
// goroutines while the key is rotated on demand 25 times never fail, and
// every ciphertext decrypts to what was sent, under the version it names.
// Each rotation waits for an Encrypt that started after the previous one
// was acknowledged to succeed, so every one of the 26 versions encrypts
// while the rotations go on.
func TestBarEncryptDuringRotation(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("rotating").KeyId)
	const workers, rotations = 6, 25
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	failure := &firstError{cancel: cancel}
	var (
		rotated atomic.Int64 // rotations acknowledged
		// encrypted carries, for each successful Encrypt, the number of
		// rotations acknowledged when it started; a full channel drops it.
		encrypted = make(chan int64, 1024)
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		mu        sync.Mutex
		made      []sealed
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				r := rotated.Load()
				pt := fmt.Appendf(nil, "worker %d message %d", w, i)
				out, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt})
				if err != nil {
					failure.set(fmt.Errorf("Encrypt during rotation: %w", err))
					return
				}
				mu.Lock()
				made = append(made, sealed{pt, out.CiphertextBlob})
				mu.Unlock()
				select {
				case encrypted <- r:
				default:
				}
			}
		})
	}
	// awaitEncrypt waits for an Encrypt that started after r rotations.
	awaitEncrypt := func(r int64) {
		for {
			select {
			case got := <-encrypted:
				if got == r {
					return
				}
			case <-ctx.Done():
				failure.set(fmt.Errorf("gave up waiting for an Encrypt after %d rotations: %w", r, ctx.Err()))
				return
			}
		}
	}
	for r := range int64(rotations) {
		if awaitEncrypt(r); ctx.Err() != nil {
			break
		}
		if _, err := s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)}); err != nil {
			failure.set(fmt.Errorf("RotateKeyOnDemand: %w", err))
			break
		}
		rotated.Add(1)
	}
	if ctx.Err() == nil {
		awaitEncrypt(rotations)
	}
	close(stop)
	wg.Wait()
	if failure.err != nil {
		t.Fatal(failure.err)
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
	if len(versions) != rotations+1 {
		t.Fatalf("ciphertexts under %d versions, want %d: one encrypted after each rotation", len(versions), rotations+1)
	}
}

// TestBarScheduleDeletionRacingEncrypt is part of check 26: once
// ScheduleKeyDeletion is acknowledged, no Encrypt that starts afterwards
// succeeds; the ones that ran before it decrypt after CancelKeyDeletion.
// The deletion is scheduled once every worker has encrypted, and each
// worker goes on until an Encrypt it started after the acknowledgement
// was refused, so the check never passes with the race not run.
func TestBarScheduleDeletionRacingEncrypt(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("doomed").KeyId)
	const workers = 8
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	failure := &firstError{cancel: cancel}
	var (
		acked            atomic.Bool
		refusedAfter     atomic.Int64
		wg               sync.WaitGroup
		mu               sync.Mutex
		made             []sealed
		start, encrypted = make(chan struct{}), make(chan struct{}, workers)
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := 0; ctx.Err() == nil; i++ {
				after := acked.Load()
				pt := fmt.Appendf(nil, "w%d-%d", w, i)
				out, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt})
				switch {
				case err == nil && after:
					failure.set(fmt.Errorf("Encrypt %d of worker %d succeeded after the deletion was acknowledged", i, w))
					return
				case err == nil:
					mu.Lock()
					made = append(made, sealed{pt, out.CiphertextBlob})
					mu.Unlock()
					if i == 0 {
						encrypted <- struct{}{}
					}
				default:
					if code, msg := apiErrorParts(err); code != "KMSInvalidStateException" || !strings.HasSuffix(msg, " is pending deletion.") {
						failure.set(fmt.Errorf("Encrypt: %s %q", code, msg))
						return
					}
					if i == 0 {
						failure.set(fmt.Errorf("worker %d's first Encrypt was refused before the deletion", w))
						return
					}
					if after {
						refusedAfter.Add(1)
						return
					}
				}
			}
		})
	}
	close(start)
	// Schedule the deletion while the workers are busy: each has encrypted
	// once and goes on.
	for range workers {
		select {
		case <-encrypted:
		case <-ctx.Done():
		}
	}
	if ctx.Err() == nil {
		if _, err := s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)}); err != nil {
			failure.set(fmt.Errorf("ScheduleKeyDeletion: %w", err))
		}
		acked.Store(true)
	}
	wg.Wait()
	if failure.err != nil {
		t.Fatal(failure.err)
	}
	if ctx.Err() != nil {
		t.Fatalf("gave up after a minute: %d of %d workers saw the deletion", refusedAfter.Load(), workers)
	}
	if got := refusedAfter.Load(); got != workers {
		t.Fatalf("%d of %d workers saw an Encrypt refused after the deletion", got, workers)
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
// readers meanwhile only ever see whole policies. The writers go on until
// the reader has seen two of their policies, so reads overlap the writes.
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
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	failure := &firstError{cancel: cancel}
	var (
		wg       sync.WaitGroup
		seen     atomic.Int64 // distinct writers' policies the reader saw
		start    = make(chan struct{})
		stop     = make(chan struct{})
		readDone = make(chan struct{})
	)
	for n := range writers {
		wg.Go(func() {
			<-start
			for r := 0; r < rounds || seen.Load() < 2; r++ {
				if ctx.Err() != nil {
					failure.set(fmt.Errorf("gave up after a minute: the reader saw %d writers' policies", seen.Load()))
					return
				}
				if _, err := s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(policyN(n))}); err != nil {
					failure.set(fmt.Errorf("PutKeyPolicy: %w", err))
					return
				}
			}
		})
	}
	go func() {
		defer close(readDone)
		<-start
		distinct := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
			if err != nil {
				failure.set(fmt.Errorf("GetKeyPolicy during the writes: %w", err))
				return
			}
			p := aws.ToString(got.Policy)
			if !whole[p] {
				failure.set(fmt.Errorf("GetKeyPolicy during the writes: a policy no writer sent: %.80q", p))
				return
			}
			if p != aws.ToString(def.Policy) && !distinct[p] {
				distinct[p] = true
				seen.Add(1)
			}
		}
	}()
	close(start)
	wg.Wait()
	close(stop)
	<-readDone
	if failure.err != nil {
		t.Fatal(failure.err)
	}
	t.Logf("the reader saw %d of the %d writers' policies", seen.Load(), writers)
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
