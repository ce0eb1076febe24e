package kms

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

const (
	east = "us-east-1"
	west = "us-west-2"
	eu   = "eu-west-1"
)

func callIn(region string) *Call { return &Call{Caller: RootCaller("111122223333", region)} }

// createMRK makes a multi-Region primary key in us-east-1.
func (h *harness) createMRK() string {
	h.t.Helper()
	out, err := h.svc.CreateKey(context.Background(), call(), &kmsapi.CreateKeyInput{Description: "primary", MultiRegion: kmsapi.Bool(true)})
	if err != nil {
		h.t.Fatal(err)
	}
	return out.KeyMetadata.KeyId
}

func (h *harness) replicate(id, region string) *kmsapi.ReplicateKeyOutput {
	h.t.Helper()
	out, err := h.svc.ReplicateKey(context.Background(), call(), &kmsapi.ReplicateKeyInput{KeyId: id, ReplicaRegion: region})
	if err != nil {
		h.t.Fatalf("ReplicateKey to %s: %v", region, err)
	}
	return out
}

func (h *harness) describeIn(region, id string) *kmsapi.KeyMetadata {
	h.t.Helper()
	out, err := h.svc.DescribeKey(context.Background(), callIn(region), &kmsapi.DescribeKeyInput{KeyId: id})
	if err != nil {
		h.t.Fatalf("DescribeKey %s in %s: %v", id, region, err)
	}
	return out.KeyMetadata
}

func (h *harness) scheduleIn(region, id string, days int32) *kmsapi.ScheduleKeyDeletionOutput {
	h.t.Helper()
	out, err := h.svc.ScheduleKeyDeletion(context.Background(), callIn(region), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(days)})
	if err != nil {
		h.t.Fatalf("ScheduleKeyDeletion in %s: %v", region, err)
	}
	return out
}

func (h *harness) deleteDue(want int) {
	h.t.Helper()
	if n, err := h.svc.DeleteDueKeys(context.Background()); err != nil || n != want {
		h.t.Fatalf("DeleteDueKeys = %d, %v; want %d", n, err, want)
	}
}

func regionsOf(cfg *kmsapi.MultiRegionConfiguration) []string {
	var out []string
	for _, r := range cfg.ReplicaKeys {
		out = append(out, r.Region)
	}
	slices.Sort(out)
	return out
}

func TestCreateMultiRegionKey(t *testing.T) {
	h := newHarness(t)
	id := h.createMRK()
	if !regexp.MustCompile(`^mrk-[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("key id %q is not mrk- and 32 hex digits", id)
	}
	md := h.describeIn(east, id)
	cfg := md.MultiRegionConfiguration
	if !*md.MultiRegion || cfg == nil || cfg.MultiRegionKeyType != mrkPrimary || cfg.PrimaryKey.Region != east ||
		cfg.PrimaryKey.Arn != md.Arn || cfg.ReplicaKeys == nil || len(cfg.ReplicaKeys) != 0 {
		t.Fatalf("metadata of a new primary: %+v %+v", md, cfg)
	}
	regional := h.describeIn(east, h.createKey())
	if *regional.MultiRegion || regional.MultiRegionConfiguration != nil {
		t.Fatalf("a single-Region key shows %+v", regional.MultiRegionConfiguration)
	}
}

// TestReplicaSharesMaterialSealedUnderItsOwnAAD checks that a replica holds
// the primary's material versions, each sealed for the replica itself.
func TestReplicaSharesMaterialSealedUnderItsOwnAAD(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createMRK()
	out := h.replicate(id, west)
	if md := out.ReplicaKeyMetadata; md.KeyState != stateCreating || *md.Enabled || md.CurrentKeyMaterialId != "" {
		t.Fatalf("ReplicateKey answered %+v, want AWS's Creating state", md)
	}
	var p, r *keyRecord
	err := h.st.View(ctx, func(tx store.Tx) error {
		var err error
		if p, err = loadKey(tx, "111122223333", east, id); err != nil {
			return err
		}
		r, err = loadKey(tx, "111122223333", west, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyState != stateEnabled || r.CurrentMaterial != p.CurrentMaterial || len(r.Materials) != 1 || r.Materials[0].ID != p.Materials[0].ID {
		t.Fatalf("replica record %+v does not share the primary's material", r)
	}
	if bytes.Equal(r.Materials[0].Sealed, p.Materials[0].Sealed) {
		t.Fatal("the replica's material is the primary's sealed bytes, not sealed for the replica")
	}
	if _, err := h.svc.sealer.Unseal(r.Materials[0].Sealed, materialAAD(p.partition(), id, p.Materials[0].ID)); err == nil {
		t.Fatal("the replica's sealed material opens under the primary's AAD")
	}
	pk, err := h.svc.snapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := h.svc.snapshot(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pk.materialOf(p.CurrentMaterial), rk.materialOf(r.CurrentMaterial)) {
		t.Fatal("the replica's material differs from the primary's")
	}
}

// TestPendingReplicaDeletionThroughTheScheduler follows AWS's deletion
// rules for a primary with replicas: the primary waits in
// PendingReplicaDeletion until its last replica is deleted, and only then
// starts its own waiting period.
func TestPendingReplicaDeletionThroughTheScheduler(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createMRK()
	h.replicate(id, west)
	h.replicate(id, eu)

	out := h.scheduleIn(east, id, 7)
	if out.KeyState != statePendingReplicaDeletion || out.DeletionDate != nil || *out.PendingWindowInDays != 7 {
		t.Fatalf("scheduling the primary: %+v, want PendingReplicaDeletion with no deletion date", out)
	}
	md := h.describeIn(east, id)
	if md.KeyState != statePendingReplicaDeletion || md.DeletionDate != nil || md.PendingDeletionWindowInDays == nil || *md.PendingDeletionWindowInDays != 7 || *md.Enabled {
		t.Fatalf("primary pending replica deletion: %+v", md)
	}
	_, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantCode(t, err, kmserr.InvalidState)
	_, err = h.svc.ReplicateKey(ctx, call(), &kmsapi.ReplicateKeyInput{KeyId: id, ReplicaRegion: "ap-southeast-2"})
	wantCode(t, err, kmserr.InvalidState)
	// The replicas still work.
	if _, err := h.svc.Encrypt(ctx, callIn(west), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("a replica of a primary pending replica deletion: %v", err)
	}

	if out := h.scheduleIn(west, id, 7); out.KeyState != statePendingDeletion || out.DeletionDate == nil {
		t.Fatalf("scheduling a replica: %+v", out)
	}
	h.scheduleIn(eu, id, 30)

	h.clock.Add(7 * day)
	h.deleteDue(1) // the us-west-2 replica
	h.reopen()
	if got := regionsOf(h.describeIn(east, id).MultiRegionConfiguration); !slices.Equal(got, []string{eu}) {
		t.Fatalf("replicas after one was deleted: %v", got)
	}
	if st := h.describeIn(east, id).KeyState; st != statePendingReplicaDeletion {
		t.Fatalf("primary is %s with a replica left", st)
	}
	_, err = h.svc.DescribeKey(ctx, callIn(west), &kmsapi.DescribeKeyInput{KeyId: id})
	wantCode(t, err, kmserr.NotFound)

	h.clock.Add(23 * day)
	deletedAt := h.clock.Now()
	h.deleteDue(1) // the eu-west-1 replica: the primary's waiting period starts
	md = h.describeIn(east, id)
	if md.KeyState != statePendingDeletion || md.DeletionDate == nil || !time.Time(*md.DeletionDate).Equal(deletedAt.Add(7*day)) ||
		md.PendingDeletionWindowInDays != nil || len(md.MultiRegionConfiguration.ReplicaKeys) != 0 {
		t.Fatalf("primary after its last replica went: %+v", md)
	}
	h.reopen()
	h.clock.Add(7*day - time.Second)
	h.deleteDue(0)
	h.clock.Add(time.Second)
	h.deleteDue(1)
	_, err = h.svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: id})
	wantCode(t, err, kmserr.NotFound)
}

func TestCancelPendingReplicaDeletion(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createMRK()
	h.replicate(id, west)
	h.scheduleIn(east, id, 7)
	if _, err := h.svc.CancelKeyDeletion(ctx, call(), &kmsapi.CancelKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	md := h.describeIn(east, id)
	if md.KeyState != stateDisabled || md.PendingDeletionWindowInDays != nil {
		t.Fatalf("after cancel: %+v, want Disabled", md)
	}
	// Deleting the replica now leaves the primary alone.
	h.scheduleIn(west, id, 7)
	h.clock.Add(8 * day)
	h.deleteDue(1)
	if md := h.describeIn(east, id); md.KeyState != stateDisabled || md.DeletionDate != nil {
		t.Fatalf("primary after its replica's deletion: %+v", md)
	}
	// A primary without replicas is scheduled as any key.
	if out := h.scheduleIn(east, id, 7); out.KeyState != statePendingDeletion || out.DeletionDate == nil {
		t.Fatalf("primary without replicas: %+v", out)
	}
}

// TestRotationOfThePrimaryReachesReplicas rotates on demand and on
// schedule and checks that every replica has the new material at once.
func TestRotationOfThePrimaryReachesReplicas(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createMRK()
	h.replicate(id, west)
	h.enableRotation(id, 90)
	h.replicate(id, eu)

	_, err := h.svc.EnableKeyRotation(ctx, callIn(west), &kmsapi.EnableKeyRotationInput{KeyId: id})
	wantCode(t, err, kmserr.UnsupportedOperation)
	_, err = h.svc.RotateKeyOnDemand(ctx, callIn(eu), &kmsapi.RotateKeyOnDemandInput{KeyId: id})
	wantCode(t, err, kmserr.UnsupportedOperation)
	st, err := h.svc.GetKeyRotationStatus(ctx, callIn(eu), &kmsapi.GetKeyRotationStatusInput{KeyId: id})
	if err != nil || !*st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 || !time.Time(*st.NextRotationDate).Equal(h.clock.Now().Add(90*day)) {
		t.Fatalf("a replica's rotation status: %+v, %v; want the primary's", st, err)
	}

	if _, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(90 * day)
	h.rotateDue(1)
	current := h.currentMaterial(id)
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("after rotation")})
	if err != nil {
		t.Fatal(err)
	}
	for _, region := range []string{west, eu} {
		if got := h.describeIn(region, id).CurrentKeyMaterialId; got != current {
			t.Fatalf("replica in %s has material %s, the primary %s", region, got, current)
		}
		dec, err := h.svc.Decrypt(ctx, callIn(region), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "after rotation" || dec.KeyMaterialId != current {
			t.Fatalf("decrypt in %s: %v", region, err)
		}
		list, err := h.svc.ListKeyRotations(ctx, callIn(region), &kmsapi.ListKeyRotationsInput{KeyId: id})
		if err != nil || len(list.Rotations) != 2 {
			t.Fatalf("rotations listed in %s: %+v, %v", region, list, err)
		}
	}

	// The schedule moves with the primary.
	if _, err := h.svc.UpdatePrimaryRegion(ctx, call(), &kmsapi.UpdatePrimaryRegionInput{KeyId: id, PrimaryRegion: eu}); err != nil {
		t.Fatal(err)
	}
	next := h.clock.Now().Add(90 * day)
	for _, region := range []string{east, west, eu} {
		st, err := h.svc.GetKeyRotationStatus(ctx, callIn(region), &kmsapi.GetKeyRotationStatusInput{KeyId: id})
		if err != nil || !*st.KeyRotationEnabled || !time.Time(*st.NextRotationDate).Equal(next) {
			t.Fatalf("rotation status in %s after the primary moved: %+v, %v", region, st, err)
		}
	}
	_, err = h.svc.DisableKeyRotation(ctx, call(), &kmsapi.DisableKeyRotationInput{KeyId: id})
	wantCode(t, err, kmserr.UnsupportedOperation)
	h.clock.Add(90 * day)
	h.reopen()
	h.rotateDue(1)
	now := h.describeIn(eu, id).CurrentKeyMaterialId
	if now == current || h.describeIn(east, id).CurrentKeyMaterialId != now || h.describeIn(west, id).CurrentKeyMaterialId != now {
		t.Fatal("the automatic rotation of the new primary did not reach every replica")
	}
}

func TestUpdatePrimaryRegionSwapsRoles(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createMRK()
	h.replicate(id, west)
	h.replicate(id, eu)
	if _, err := h.svc.UpdatePrimaryRegion(ctx, call(), &kmsapi.UpdatePrimaryRegionInput{KeyId: id, PrimaryRegion: west}); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	for _, region := range []string{east, west, eu} {
		cfg := h.describeIn(region, id).MultiRegionConfiguration
		want := mrkReplica
		if region == west {
			want = mrkPrimary
		}
		if cfg.MultiRegionKeyType != want || cfg.PrimaryKey.Region != west || !slices.Equal(regionsOf(cfg), []string{eu, east}) {
			t.Fatalf("configuration in %s: %+v", region, cfg)
		}
	}
	_, err := h.svc.ReplicateKey(ctx, call(), &kmsapi.ReplicateKeyInput{KeyId: id, ReplicaRegion: "ap-south-1"})
	wantCode(t, err, kmserr.UnsupportedOperation)
	if _, err := h.svc.ReplicateKey(ctx, callIn(west), &kmsapi.ReplicateKeyInput{KeyId: id, ReplicaRegion: "ap-south-1"}); err != nil {
		t.Fatalf("replicating from the new primary: %v", err)
	}
}

func TestRegionsLimitReplicas(t *testing.T) {
	h := newHarness(t)
	h.svc.regions = map[string]bool{east: true, west: true}
	h.svc.regionList = []string{east, west}
	id := h.createMRK()
	_, err := h.svc.ReplicateKey(context.Background(), call(), &kmsapi.ReplicateKeyInput{KeyId: id, ReplicaRegion: eu})
	wantCode(t, err, kmserr.UnsupportedOperation)
	h.replicate(id, west)
	if err := h.svc.CheckRegion(eu); kmserr.CodeOf(err) != kmserr.UnrecognizedClient {
		t.Fatalf("CheckRegion(%s) = %v", eu, err)
	}
	if err := h.svc.CheckRegion(west); err != nil {
		t.Fatal(err)
	}
}
