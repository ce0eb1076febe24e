package api_test

import (
	"context"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsd/kmsd/internal/audit"
)

// slowSyncFile is an audit log file whose fsync takes as long as a real
// disk's, so concurrent requests' records queue up behind one another.
type slowSyncFile struct{ *os.File }

func (f slowSyncFile) Sync() error {
	time.Sleep(5 * time.Millisecond)
	return f.File.Sync()
}

// A few concurrent callers of a server whose answers wait for their audit
// records' fsync (as serve's do) are answered as soon as the records of the
// requests in progress are durable, not after a fixed wait for more: with
// a one-second CommitDelay, 80 calls from 4 SDK clients take a few seconds
// at most (a batch may wait it out when a client stops calling), where a
// wait on every shared fsync took over 40. Requests that fail still settle
// their place in the batch.
func TestConcurrentCallersDoNotWaitOutTheCommitDelay(t *testing.T) {
	const delay = time.Second
	url, al := failClosedServer(t, audit.Options{
		CommitDelay: delay, Timeout: time.Minute,
		OpenLogFile: func(name string, flag int, perm fs.FileMode) (audit.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err != nil {
				return nil, err
			}
			return slowSyncFile{f}, nil
		},
	})
	c := newClient(url, testRegion, testAccessKey, testSecretKey)
	ctx := context.Background()
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}

	const callers, calls = 4, 10
	begin := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
				// A failing call is audited too, and must not be waited for.
				if _, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/missing")}); err == nil {
					t.Error("DescribeKey of a missing alias succeeded")
					return
				}
			}
		}()
	}
	wg.Wait()
	if el := time.Since(begin); el >= 10*delay {
		t.Fatalf("%d calls from %d clients took %v: batches waited out the %v CommitDelay", 2*callers*calls, callers, el, delay)
	}
	s := al.Stats()
	if s.Records < 2*callers*calls+1 || s.Batches >= s.Records {
		t.Fatalf("%d records in %d fsyncs; want every call recorded and fsyncs shared", s.Records, s.Batches)
	}
	t.Logf("%d records in %d fsyncs", s.Records, s.Batches)

	// Nothing is still counted as coming: once a lone call has made the
	// batches small again, the next one is answered at once.
	for i := range 2 {
		begin = time.Now()
		if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(begin); i == 1 && el >= delay {
			t.Fatalf("a lone call took %v: an announced record was never settled", el)
		}
	}
}
