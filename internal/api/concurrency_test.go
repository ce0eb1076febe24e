package api_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

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
// and no Encrypt that starts after a DisableKey was acknowledged (and ends
// before the next EnableKey is sent) succeeds.
func TestEncryptWhileFlippingKeyState(t *testing.T) {
	s := newServer(t)
	md := s.createKey("")
	id, arn := aws.ToString(md.KeyId), aws.ToString(md.Arn)

	// epoch is odd while a DisableKey has been acknowledged and no EnableKey
	// has been sent since.
	var epoch atomic.Int64
	stop := make(chan struct{})
	flipperDone := make(chan struct{})
	var flipErr atomic.Value
	go func() {
		defer close(flipperDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
				flipErr.Store(fmt.Errorf("DisableKey: %w", err))
				return
			}
			epoch.Add(1)
			// The flipper's own Encrypt right after the acknowledgement must fail.
			if _, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")}); err == nil {
				flipErr.Store(fmt.Errorf("Encrypt succeeded right after DisableKey was acknowledged (flip %d)", i))
				return
			}
			epoch.Add(1)
			if _, err := s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
				flipErr.Store(fmt.Errorf("EnableKey: %w", err))
				return
			}
		}
	}()

	type result struct {
		pt, blob []byte
		ec       map[string]string
	}
	const workers, perWorker = 32, 20
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		results   []result
		refused   atomic.Int64
		violation atomic.Value
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				pt := fmt.Appendf(nil, "worker %02d message %02d", w, i)
				ec := map[string]string{"worker": fmt.Sprint(w)}
				before := epoch.Load()
				out, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt, EncryptionContext: ec})
				after := epoch.Load()
				if err != nil {
					if code, msg := apiErrorParts(err); code != "DisabledException" || msg != arn+" is disabled." {
						violation.Store(fmt.Errorf("Encrypt: got %s %q, want DisabledException", code, msg))
						return
					}
					refused.Add(1)
					continue
				}
				if before == after && before%2 == 1 {
					violation.Store(fmt.Errorf("Encrypt succeeded while DisableKey was acknowledged (epoch %d)", before))
					return
				}
				if aws.ToString(out.KeyId) != arn {
					violation.Store(fmt.Errorf("Encrypt KeyId %q", aws.ToString(out.KeyId)))
					return
				}
				mu.Lock()
				results = append(results, result{pt: pt, blob: out.CiphertextBlob, ec: ec})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-flipperDone
	if err, _ := flipErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	if err, _ := violation.Load().(error); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d encryptions succeeded, %d refused, %d flips", len(results), refused.Load(), epoch.Load()/2)
	if len(results) == 0 {
		t.Fatal("no Encrypt succeeded")
	}

	// Every ciphertext decrypts to its own plaintext.
	if _, err := s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
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
