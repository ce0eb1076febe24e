package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// TestConcurrentCreateAlias: of 16 simultaneous CreateAlias calls for one
// name, exactly one wins and the alias points at the winner's key.
func TestConcurrentCreateAlias(t *testing.T) {
	s := newServer(t)
	var keys []string
	for range 4 {
		keys = append(keys, aws.ToString(s.createKey("").KeyId))
	}
	const n = 16
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		errs    = make([]error, n)
		targets = make([]string, n)
	)
	for i := range n {
		targets[i] = keys[i%len(keys)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/contested"), TargetKeyId: aws.String(targets[i])})
		}()
	}
	close(start)
	wg.Wait()

	winner := ""
	for i, err := range errs {
		if err == nil {
			if winner != "" {
				t.Errorf("CreateAlias succeeded twice (targets %s and %s)", winner, targets[i])
			}
			winner = targets[i]
			continue
		}
		wantCode(t, err, "AlreadyExistsException")
	}
	if winner == "" {
		t.Fatal("no CreateAlias succeeded")
	}
	all := s.listAliases("")
	if len(all) != 1 || aws.ToString(all["alias/contested"].TargetKeyId) != winner {
		t.Errorf("aliases = %v, want alias/contested → %s", all, winner)
	}
	if got := aws.ToString(s.describe("alias/contested").KeyId); got != winner {
		t.Errorf("alias/contested resolves to %s, want %s", got, winner)
	}
}

// TestEncryptWhileFlippingKeyState runs Encrypt from 32 goroutines while
// the key is disabled and enabled over and over. Every answer is either a
// ciphertext that decrypts to exactly what was sent, or DisabledException;
// no Encrypt that starts after a DisableKey was acknowledged (and ends
// before the next EnableKey is sent) succeeds. Each disabled window lasts
// until a worker's Encrypt that started inside it was refused, and each
// enabled one until a worker's Encrypt that started after it succeeded, so
// refusals and successes interleave with the flips on any machine.
func TestEncryptWhileFlippingKeyState(t *testing.T) {
	s := newServer(t)
	md := s.createKey("")
	id, arn := aws.ToString(md.KeyId), aws.ToString(md.Arn)

	const workers, flips, keptPerWorker = 32, 20, 10
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	var (
		failOnce sync.Once
		failure  error
	)
	fail := func(err error) {
		failOnce.Do(func() { failure = err })
		cancel()
	}

	// epoch is odd while a DisableKey has been acknowledged and no EnableKey
	// has been sent since.
	var epoch atomic.Int64
	// outcome is one worker Encrypt: the epoch it started in and whether it
	// was refused. The flipper waits on these; a full channel drops them.
	type outcome struct {
		started int64
		refused bool
	}
	outcomes := make(chan outcome, 1024)
	await := func(what string, ok func(outcome) bool) {
		for {
			select {
			case o := <-outcomes:
				if ok(o) {
					return
				}
			case <-ctx.Done():
				fail(fmt.Errorf("gave up waiting for %s (epoch %d): %w", what, epoch.Load(), ctx.Err()))
				return
			}
		}
	}

	type result struct {
		pt, blob []byte
		ec       map[string]string
	}
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		results          []result
		refused, encrypt atomic.Int64
		start            = make(chan struct{})
		stop             = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				pt := fmt.Appendf(nil, "worker %02d message %04d", w, i)
				ec := map[string]string{"worker": fmt.Sprint(w)}
				before := epoch.Load()
				out, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt, EncryptionContext: ec})
				after := epoch.Load()
				if err != nil {
					if code, msg := apiErrorParts(err); code != "DisabledException" || msg != arn+" is disabled." {
						fail(fmt.Errorf("Encrypt: got %s %q, want DisabledException", code, msg))
						return
					}
					refused.Add(1)
					select {
					case outcomes <- outcome{started: before, refused: true}:
					default:
					}
					continue
				}
				if before == after && before%2 == 1 {
					fail(fmt.Errorf("Encrypt succeeded while DisableKey was acknowledged (epoch %d)", before))
					return
				}
				if aws.ToString(out.KeyId) != arn {
					fail(fmt.Errorf("Encrypt KeyId %q", aws.ToString(out.KeyId)))
					return
				}
				encrypt.Add(1)
				select {
				case outcomes <- outcome{started: before}:
				default:
				}
				if i < keptPerWorker {
					mu.Lock()
					results = append(results, result{pt: pt, blob: out.CiphertextBlob, ec: ec})
					mu.Unlock()
				}
			}
		})
	}

	close(start)
	for flip := 0; flip < flips && ctx.Err() == nil; flip++ {
		if _, err := s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
			fail(fmt.Errorf("DisableKey: %w", err))
			break
		}
		disabled := epoch.Add(1)
		// The flipper's own Encrypt right after the acknowledgement must fail.
		if _, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")}); err == nil {
			fail(fmt.Errorf("Encrypt succeeded right after DisableKey was acknowledged (flip %d)", flip))
			break
		}
		await("an Encrypt started while disabled to be refused", func(o outcome) bool { return o.refused && o.started == disabled })
		enabled := epoch.Add(1)
		if _, err := s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
			fail(fmt.Errorf("EnableKey: %w", err))
			break
		}
		await("an Encrypt to succeed after EnableKey", func(o outcome) bool { return !o.refused && o.started >= enabled })
	}
	close(stop)
	wg.Wait()
	if failure != nil {
		t.Fatal(failure)
	}
	t.Logf("%d encryptions succeeded, %d refused, %d flips", encrypt.Load(), refused.Load(), epoch.Load()/2)
	if got := epoch.Load() / 2; got != flips {
		t.Fatalf("%d flips, want %d", got, flips)
	}

	// Every kept ciphertext decrypts to its own plaintext.
	for _, r := range results {
		dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: r.blob, EncryptionContext: r.ec})
		if err != nil {
			t.Fatalf("Decrypt of %q: %v", r.pt, err)
		}
		if !bytes.Equal(dec.Plaintext, r.pt) {
			t.Fatalf("ciphertext of %q decrypted to %q", r.pt, dec.Plaintext)
		}
	}
}

// apiErrorParts is apiError for goroutines, which must not call t.Fatal.
func apiErrorParts(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return fmt.Sprintf("%T", err), err.Error()
}
