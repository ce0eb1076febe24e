package api_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// stallingFile is an audit log file whose next fsync, once armed, takes
// the armed duration: a disk that stalls under load.
type stallingFile struct {
	*os.File
	stall *atomic.Int64 // nanoseconds the next Sync sleeps
}

func (f stallingFile) Sync() error {
	if d := f.stall.Swap(0); d > 0 {
		time.Sleep(time.Duration(d))
	}
	return f.File.Sync()
}

// stallingServer is a fail-closed server (every answer waits for its
// audit record's fsync, as serve does) whose audit log's fsync can be made
// to stall. timeout 0 keeps the audit log's default deadline.
func stallingServer(t *testing.T, timeout time.Duration) (url string, stall *atomic.Int64, al *audit.Log) {
	t.Helper()
	stall = new(atomic.Int64)
	url, al = failClosedServer(t, audit.Options{
		Timeout: timeout,
		OpenLogFile: func(name string, flag int, perm fs.FileMode) (audit.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err != nil {
				return nil, err
			}
			return stallingFile{File: f, stall: stall}, nil
		},
	})
	return url, stall, al
}

// failClosedServer is a server whose answers wait for their audit records'
// fsync, as serve's do, with the audit log options opts (FailClosed set).
func failClosedServer(t *testing.T, opts audit.Options) (url string, al *audit.Log) {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	opts.FailClosed = true
	al, err = audit.OpenFile(filepath.Join(dir, "audit.jsonl"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = al.Close() })
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.AccountOwner{}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Service: svc, Auth: api.Permissive{AccountID: testAccount, DefaultRegion: testRegion}, Audit: al})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL, al
}

// A fsync that stalls for seconds (a busy disk) slows the requests waiting
// for their audit records down; none of them fails, since the stall ends
// within the stated deadline (audit.DefaultTimeout).
func TestSlowAuditFsyncSlowsRequestsWithoutFailingThem(t *testing.T) {
	const stallFor = 2500 * time.Millisecond
	if stallFor >= audit.DefaultTimeout {
		t.Fatalf("the stall (%v) must end within the deadline (%v)", stallFor, audit.DefaultTimeout)
	}
	url, stall, al := stallingServer(t, 0)
	c := newClient(url, testRegion, testAccessKey, testSecretKey)
	ctx := context.Background()
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	stall.Store(int64(stallFor))
	const callers = 16
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Encrypt during a %v fsync stall: %v", stallFor, err)
		}
	}
	if took := time.Since(start); took < stallFor/2 {
		t.Fatalf("the requests took %v: the stall was never armed", took)
	}
	if s := al.Stats(); s.TimedOut != 0 || s.Dropped != 0 {
		t.Errorf("audit stats after the stall: %+v", s)
	}
}

// A stall past the deadline refuses the request with ThrottlingException
// (HTTP 400), which every AWS SDK retries with backoff, not with a 500.
func TestAuditStallPastDeadlineIsThrottling(t *testing.T) {
	const deadline = 300 * time.Millisecond
	url, stall, _ := stallingServer(t, deadline)
	c := newClient(url, testRegion, testAccessKey, testSecretKey)
	ctx := context.Background()
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	stall.Store(int64(4 * deadline))
	start := time.Now()
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")})
	took := time.Since(start)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Fatalf("Encrypt during a stall past the deadline = %v, want ThrottlingException", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("HTTP status of the refusal: %v, want 400", err)
	}
	if took < deadline {
		t.Errorf("refused after %v, before the %v deadline", took, deadline)
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
		t.Errorf("the SDK's default retryer would not retry %v", err)
	}
	// Once the disk recovers, the same call succeeds.
	time.Sleep(4 * deadline)
	if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt after the stall: %v", err)
	}
}
