package api_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// switchLog is an audit log that refuses records while down is set.
type switchLog struct {
	mu   sync.Mutex
	down bool
	recs []audit.Event
}

func (l *switchLog) Append(ev *audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return errors.New("no space left on device")
	}
	l.recs = append(l.recs, *ev)
	return nil
}

func (l *switchLog) setDown(down bool) { l.mu.Lock(); l.down = down; l.mu.Unlock() }

func (l *switchLog) named(name string) []audit.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []audit.Event
	for _, r := range l.recs {
		if r.EventName == name {
			out = append(out, r)
		}
	}
	return out
}

// TestJobChangesCommitWithTheirRecords: a key deleted at the end of its
// waiting period gets AWS's DeleteKey service event, and an automatic
// rotation its RotateKey event; when the log refuses them, the change
// still commits only with its record (in the store's outbox), which
// reaches the log once it takes writes again.
func TestJobChangesCommitWithTheirRecords(t *testing.T) {
	bg := context.Background()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	log := &switchLog{}
	box := outbox.New(st, log, nil)
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	svc, err := kmscore.New(kmscore.Config{Store: box.Store(), Sealer: sl, Authorizer: kmscore.AccountOwner{}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	c := kmscore.RootCaller(testAccount, testRegion)
	call := &kmscore.Call{Caller: c}
	doomed, err := svc.CreateKey(bg, call, &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	rotating, err := svc.CreateKey(bg, call, &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnableKeyRotation(bg, call, &kmsapi.EnableKeyRotationInput{KeyId: rotating.KeyMetadata.KeyId, RotationPeriodInDays: aws.Int32(90)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ScheduleKeyDeletion(bg, call, &kmsapi.ScheduleKeyDeletionInput{KeyId: doomed.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	clock.Add(91 * 24 * time.Hour)

	log.setDown(true)
	if n, err := svc.DeletionJob(box)(bg); n != 1 || err == nil {
		t.Fatalf("DeletionJob with the log down = %d, %v; want the key deleted and the audit failure reported", n, err)
	}
	if n, err := svc.RotationJob(box)(bg); n != 1 || err == nil {
		t.Fatalf("RotationJob with the log down = %d, %v; want one rotation and the audit failure reported", n, err)
	}
	if _, err := svc.DescribeKey(bg, call, &kmsapi.DescribeKeyInput{KeyId: doomed.KeyMetadata.KeyId}); err == nil {
		t.Fatal("the key is still there after its waiting period")
	}
	if pending, err := box.Pending(bg); err != nil || pending != 2 {
		t.Fatalf("outbox holds %d stranded records (%v), want the DeleteKey and the RotateKey", pending, err)
	}

	log.setDown(false)
	if n, err := box.Ship(bg); n != 2 || err != nil {
		t.Fatalf("Ship = %d, %v", n, err)
	}
	del := log.named("DeleteKey")
	if len(del) != 1 || del[0].EventType != "AwsServiceEvent" || del[0].UserIdentity.InvokedBy != "AWS Internal" ||
		del[0].ResponseElements["keyId"] != doomed.KeyMetadata.Arn || len(del[0].Resources) != 1 || del[0].Resources[0].ARN != doomed.KeyMetadata.Arn {
		t.Fatalf("DeleteKey records: %+v", del)
	}
	if rot := log.named("RotateKey"); len(rot) != 1 || rot[0].AdditionalEventData["keyId"] != rotating.KeyMetadata.KeyId {
		t.Fatalf("RotateKey records: %+v", rot)
	}
	if pending, _ := box.Pending(bg); pending != 0 {
		t.Fatalf("%d records still stranded after shipping", pending)
	}
	var left int
	_ = st.View(bg, func(tx store.Tx) error {
		kvs, err := tx.Scan([]byte("audit-outbox"), nil, nil, 0)
		left = len(kvs)
		return err
	})
	if left != 0 {
		t.Fatalf("%d outbox entries left in the store", left)
	}
}
