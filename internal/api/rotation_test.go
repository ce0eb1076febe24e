package api_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/audit"
)

const day = 24 * time.Hour

// openDataNode starts a server over a data directory that outlives it, so
// a test can stop kmsd and start it again on the same store, root key and
// audit log.
func openDataNode(t *testing.T, dir string, clock *fakeClock) *testServer {
	t.Helper()
	return startServer(t, serverOptions{dir: dir, clock: clock})
}

func (s *testServer) rotationStatus(keyID string) *kms.GetKeyRotationStatusOutput {
	s.t.Helper()
	out, err := s.Client.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)})
	if err != nil {
		s.t.Fatalf("GetKeyRotationStatus: %v", err)
	}
	return out
}

func (s *testServer) enableRotation(keyID string, period *int32) {
	s.t.Helper()
	if _, err := s.Client.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: aws.String(keyID), RotationPeriodInDays: period}); err != nil {
		s.t.Fatalf("EnableKeyRotation: %v", err)
	}
}

func (s *testServer) rotateOnDemand(keyID string) {
	s.t.Helper()
	out, err := s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(keyID)})
	if err != nil {
		s.t.Fatalf("RotateKeyOnDemand: %v", err)
	}
	if got := aws.ToString(out.KeyId); got != keyARN(testRegion, keyID) {
		s.t.Fatalf("RotateKeyOnDemand KeyId = %q, want the key ARN", got)
	}
}

func (s *testServer) listRotations(in *kms.ListKeyRotationsInput) []types.RotationsListEntry {
	s.t.Helper()
	var all []types.RotationsListEntry
	p := kms.NewListKeyRotationsPaginator(s.Client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			s.t.Fatalf("ListKeyRotations: %v", err)
		}
		all = append(all, page.Rotations...)
	}
	return all
}

func TestKeyRotationStatusAndPeriod(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("rotating").KeyId)
	arn := keyARN(testRegion, id)
	wantOff := func(st *kms.GetKeyRotationStatusOutput) {
		t.Helper()
		if st.KeyRotationEnabled || st.RotationPeriodInDays != nil || st.NextRotationDate != nil || st.OnDemandRotationStartDate != nil || aws.ToString(st.KeyId) != id {
			t.Fatalf("status = %+v, want KeyId %s and KeyRotationEnabled false only", st, id)
		}
	}
	wantOff(s.rotationStatus(id))

	start := s.Clock.Now()
	s.enableRotation(id, nil)
	st := s.rotationStatus(arn) // the key ARN works as well as the id
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 365 || !aws.ToTime(st.NextRotationDate).Equal(start.Add(365*day)) || st.OnDemandRotationStartDate != nil {
		t.Fatalf("after EnableKeyRotation: %+v, want 365 days from %v", st, start)
	}
	for _, period := range []int32{90, 2560} {
		s.enableRotation(arn, aws.Int32(period))
		st := s.rotationStatus(id)
		if aws.ToInt32(st.RotationPeriodInDays) != period || !aws.ToTime(st.NextRotationDate).Equal(start.Add(time.Duration(period)*day)) {
			t.Fatalf("period %d: %+v", period, st)
		}
	}
	for _, tc := range []struct {
		period int32
		msg    string
	}{
		{89, "1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to 90"},
		{0, "1 validation error detected: Value '0' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to 90"},
		{2561, "1 validation error detected: Value '2561' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 2560"},
	} {
		_, err := s.Client.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: aws.String(id), RotationPeriodInDays: aws.Int32(tc.period)})
		wantError(t, err, "ValidationException", tc.msg)
	}
	if got := aws.ToInt32(s.rotationStatus(id).RotationPeriodInDays); got != 2560 {
		t.Fatalf("a refused EnableKeyRotation changed the period to %d", got)
	}

	if _, err := s.Client.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	wantOff(s.rotationStatus(id))
	if _, err := s.Client.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: aws.String(id)}); err != nil {
		t.Fatalf("DisableKeyRotation twice: %v", err)
	}

	missing := "11111111-2222-3333-4444-555555555555"
	for name, call := range map[string]func() error{
		"EnableKeyRotation": func() error {
			_, err := s.Client.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: aws.String(missing)})
			return err
		},
		"GetKeyRotationStatus": func() error {
			_, err := s.Client.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: aws.String(missing)})
			return err
		},
		"RotateKeyOnDemand": func() error {
			_, err := s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(missing)})
			return err
		},
		"ListKeyRotations": func() error {
			_, err := s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: aws.String(missing)})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, call(), "NotFoundException", "Key '"+keyARN(testRegion, missing)+"' does not exist")
		})
	}
}

func TestRotateKeyOnDemandLimit(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("limited").KeyId)
	for range 25 {
		s.rotateOnDemand(id)
	}
	_, err := s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantError(t, err, "LimitExceededException",
		"The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: "+keyARN(testRegion, id))
	list := s.listRotations(&kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	if len(list) != 25 {
		t.Fatalf("%d rotations listed, want 25", len(list))
	}
	// The quota is on on-demand rotations only: automatic rotation goes on.
	s.enableRotation(id, aws.Int32(90))
	s.Clock.Add(90 * day)
	if n, err := s.Service.RotateDueKeys(bg); n != 1 || err != nil {
		t.Fatalf("RotateDueKeys = %d, %v", n, err)
	}
	list = s.listRotations(&kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	if len(list) != 26 || list[25].RotationType != types.RotationTypeAutomatic {
		t.Fatalf("after the automatic rotation: %d entries, last %+v", len(list), list[len(list)-1])
	}
}

func TestRotationRefusesKeysAWSDoesNotRotate(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		spec  types.KeySpec
		usage types.KeyUsageType
	}{
		{types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac},
		{types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt},
		{types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify},
	} {
		t.Run(string(tc.spec), func(t *testing.T) {
			ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: tc.usage})
			if err != nil {
				t.Fatal(err)
			}
			id := ck.KeyMetadata.KeyId
			_, err = s.Client.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: id})
			wantError(t, err, "UnsupportedOperationException", "")
			_, err = s.Client.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: id})
			wantError(t, err, "UnsupportedOperationException", "")
			_, err = s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: id})
			wantError(t, err, "UnsupportedOperationException", "")
			_, err = s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: id})
			wantError(t, err, "UnsupportedOperationException", "")
			// Terraform reads the status of every key: these report false.
			if st := s.rotationStatus(*id); st.KeyRotationEnabled || st.NextRotationDate != nil {
				t.Fatalf("status = %+v, want KeyRotationEnabled false", st)
			}
		})
	}
}

func TestRotationKeyStates(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("states").KeyId)
	arn := keyARN(testRegion, id)
	s.enableRotation(id, aws.Int32(180))
	s.rotateOnDemand(id)
	refused := func(code, msg string) {
		t.Helper()
		_, err := s.Client.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: aws.String(id)})
		wantError(t, err, code, msg)
		_, err = s.Client.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: aws.String(id)})
		wantError(t, err, code, msg)
		_, err = s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
		wantError(t, err, code, msg)
		if n := len(s.listRotations(&kms.ListKeyRotationsInput{KeyId: aws.String(id)})); n != 1 {
			t.Fatalf("ListKeyRotations lists %d rotations, want 1", n)
		}
	}

	s.disable(id)
	refused("DisabledException", arn+" is disabled.")
	if st := s.rotationStatus(id); !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 180 {
		t.Fatalf("disabled key status = %+v: disabling the key keeps its rotation status", st)
	}

	s.scheduleDeletion(id, 7)
	refused("KMSInvalidStateException", arn+" is pending deletion.")
	if st := s.rotationStatus(id); st.KeyRotationEnabled || st.RotationPeriodInDays != nil || st.NextRotationDate != nil {
		t.Fatalf("status of a key pending deletion = %+v, want false", st)
	}
	if _, err := s.Client.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if st := s.rotationStatus(id); !st.KeyRotationEnabled {
		t.Fatal("cancelling the deletion did not restore the rotation status")
	}
}

func TestListKeyRotationsPaginates(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("paged").KeyId)
	first := aws.ToString(s.describe(id).CurrentKeyMaterialId)
	var want []string
	for range 7 {
		s.Clock.Add(time.Minute)
		s.rotateOnDemand(id)
		want = append(want, aws.ToString(s.describe(id).CurrentKeyMaterialId))
	}

	p := kms.NewListKeyRotationsPaginator(s.Client, &kms.ListKeyRotationsInput{KeyId: aws.String(id), Limit: aws.Int32(3)})
	var got []types.RotationsListEntry
	var sizes []int
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Rotations))
		if page.Truncated != (page.NextMarker != nil) {
			t.Fatalf("Truncated %v with NextMarker %v", page.Truncated, page.NextMarker)
		}
		got = append(got, page.Rotations...)
	}
	if fmt.Sprint(sizes) != "[3 3 1]" || len(got) != 7 {
		t.Fatalf("pages of %v, want [3 3 1]", sizes)
	}
	prev := time.Time{}
	for i, e := range got {
		if aws.ToString(e.KeyMaterialId) != want[i] || aws.ToString(e.KeyId) != id || e.RotationType != types.RotationTypeOnDemand {
			t.Fatalf("entry %d = %+v, want the rotation to %s", i, e, want[i])
		}
		if d := aws.ToTime(e.RotationDate); !d.After(prev) {
			t.Fatalf("entry %d rotation date %v is not after %v", i, d, prev)
		} else {
			prev = d
		}
		wantState := types.KeyMaterialStateNonCurrent
		if i == 6 {
			wantState = types.KeyMaterialStateCurrent
		}
		if e.KeyMaterialState != wantState || e.ImportState != "" || e.ExpirationModel != "" || e.ValidTo != nil {
			t.Fatalf("entry %d = %+v, want state %s and no imported-material fields", i, e, wantState)
		}
	}

	all := s.listRotations(&kms.ListKeyRotationsInput{KeyId: aws.String(id), IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial, Limit: aws.Int32(2)})
	if len(all) != 8 || aws.ToString(all[0].KeyMaterialId) != first || all[0].RotationDate != nil || all[0].RotationType != "" {
		t.Fatalf("ALL_KEY_MATERIAL: %d entries, first %+v; want the original material first", len(all), all[0])
	}

	_, err := s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: aws.String(id), Marker: aws.String("bm90IGEgbWFya2Vy")})
	wantError(t, err, "InvalidMarkerException", "Invalid marker")
	_, err = s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: aws.String(id), Limit: aws.Int32(1001)})
	wantError(t, err, "ValidationException", "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000")
	out, err := s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: aws.String(aws.ToString(s.createKey("new").KeyId))})
	if err != nil || len(out.Rotations) != 0 || out.Truncated {
		t.Fatalf("a key never rotated: %+v, %v", out, err)
	}
}

// TestRotatedKeyDecryptsEveryVersionAcrossRestart rotates a key on demand
// and on schedule, then restarts kmsd on the same data, and decrypts what
// every material version encrypted.
func TestRotatedKeyDecryptsEveryVersionAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	n := openDataNode(t, dir, clock)
	md := n.createKey("rotated")
	id := aws.ToString(md.KeyId)
	n.createAlias("alias/rotated", id)
	ec := map[string]string{"purpose": "rotation"}

	type version struct {
		material string
		blob     []byte
		dataKey  []byte
		wrapped  []byte
	}
	var versions []version
	encryptNow := func() {
		t.Helper()
		i := len(versions)
		enc := n.encrypt("alias/rotated", []byte(fmt.Sprint("version ", i)), ec)
		if aws.ToString(enc.KeyId) != keyARN(testRegion, id) {
			t.Fatalf("Encrypt through the alias used %s", aws.ToString(enc.KeyId))
		}
		gdk, err := n.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
		if err != nil {
			t.Fatal(err)
		}
		cur := n.describe(id)
		if aws.ToString(gdk.KeyMaterialId) != aws.ToString(cur.CurrentKeyMaterialId) {
			t.Fatalf("GenerateDataKey used material %s, current is %s", aws.ToString(gdk.KeyMaterialId), aws.ToString(cur.CurrentKeyMaterialId))
		}
		versions = append(versions, version{aws.ToString(cur.CurrentKeyMaterialId), enc.CiphertextBlob, gdk.Plaintext, gdk.CiphertextBlob})
	}

	encryptNow()
	n.rotateOnDemand(id)
	encryptNow()
	n.enableRotation(id, aws.Int32(90))
	clock.Add(90 * day)
	if got, err := n.Service.RotationJob(n.Audit)(bg); got != 1 || err != nil {
		t.Fatalf("rotation job = %d, %v", got, err)
	}
	encryptNow()
	n.rotateOnDemand(id)
	encryptNow()

	seen := map[string]bool{}
	for _, v := range versions {
		seen[v.material] = true
	}
	if len(seen) != 4 {
		t.Fatalf("%d distinct materials after three rotations, want 4", len(seen))
	}
	after := n.describe(id)
	if aws.ToString(after.Arn) != aws.ToString(md.Arn) || aws.ToString(after.KeyId) != id || !after.CreationDate.Equal(aws.ToTime(md.CreationDate)) {
		t.Fatalf("rotation changed the key's identity: %+v", after)
	}

	n.Stop()
	clock.Add(time.Hour)
	n = openDataNode(t, dir, clock)
	current := aws.ToString(n.describe(id).CurrentKeyMaterialId)
	if current != versions[3].material {
		t.Fatalf("after restart the current material is %s, want %s", current, versions[3].material)
	}
	for i, v := range versions {
		dec, err := n.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: v.blob, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("decrypt version %d after restart: %v", i, err)
		}
		if string(dec.Plaintext) != fmt.Sprint("version ", i) || aws.ToString(dec.KeyMaterialId) != v.material {
			t.Fatalf("version %d: plaintext %q material %s, want material %s", i, dec.Plaintext, aws.ToString(dec.KeyMaterialId), v.material)
		}
		dk, err := n.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: v.wrapped, KeyId: aws.String("alias/rotated")})
		if err != nil || !bytes.Equal(dk.Plaintext, v.dataKey) {
			t.Fatalf("data key of version %d after restart: %v", i, err)
		}
		re, err := n.Client.ReEncrypt(bg, &kms.ReEncryptInput{
			CiphertextBlob: v.blob, SourceEncryptionContext: ec,
			DestinationKeyId: aws.String(id), DestinationEncryptionContext: ec,
		})
		if err != nil {
			t.Fatalf("ReEncrypt version %d: %v", i, err)
		}
		if aws.ToString(re.SourceKeyMaterialId) != v.material || aws.ToString(re.DestinationKeyMaterialId) != current {
			t.Fatalf("ReEncrypt of version %d: from %s to %s, want from %s to the current %s", i,
				aws.ToString(re.SourceKeyMaterialId), aws.ToString(re.DestinationKeyMaterialId), v.material, current)
		}
		again, err := n.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: ec})
		if err != nil || aws.ToString(again.KeyMaterialId) != current || string(again.Plaintext) != fmt.Sprint("version ", i) {
			t.Fatalf("decrypt the re-encrypted version %d: %v", i, err)
		}
	}
	list := n.listRotations(&kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	var kinds []types.RotationType
	for _, e := range list {
		kinds = append(kinds, e.RotationType)
	}
	if fmt.Sprint(kinds) != "[ON_DEMAND AUTOMATIC ON_DEMAND]" {
		t.Fatalf("rotation history after restart: %v", kinds)
	}
}

// TestAutomaticRotationAcrossRestart runs the scheduler's task against a
// fake clock, restarts kmsd between runs, and checks each due date rotated
// the key once, with one RotateKey service event each in the audit log.
func TestAutomaticRotationAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	n := openDataNode(t, dir, clock)
	id := aws.ToString(n.createKey("scheduled").KeyId)
	start := clock.Now()
	n.enableRotation(id, aws.Int32(90))
	run := func(want int) {
		t.Helper()
		if got, err := n.Service.RotationJob(n.Audit)(bg); got != want || err != nil {
			t.Fatalf("rotation job = %d, %v; want %d", got, err, want)
		}
	}
	clock.Add(90*day - time.Minute)
	run(0)
	clock.Add(time.Minute)
	run(1)
	n.Stop()
	n = openDataNode(t, dir, clock)
	run(0)
	st := n.rotationStatus(id)
	if !st.KeyRotationEnabled || !aws.ToTime(st.NextRotationDate).Equal(start.Add(180*day)) {
		t.Fatalf("after the first rotation: %+v, want next %v", st, start.Add(180*day))
	}
	clock.Add(90 * day)
	n.Stop()
	n = openDataNode(t, dir, clock) // due while kmsd was down
	run(1)
	run(0)
	if list := n.listRotations(&kms.ListKeyRotationsInput{KeyId: aws.String(id)}); len(list) != 2 {
		t.Fatalf("%d rotations, want 2", len(list))
	}

	records := n.readAudit()
	var rotateKey, enable int
	for _, r := range records {
		switch r["eventName"] {
		case "RotateKey":
			rotateKey++
			ui, _ := r["userIdentity"].(map[string]any)
			res, _ := r["resources"].([]any)
			extra, _ := r["additionalEventData"].(map[string]any)
			if r["eventType"] != "AwsServiceEvent" || ui["invokedBy"] != "AWS Internal" || ui["accountId"] != testAccount ||
				r["awsRegion"] != testRegion || len(res) != 1 || extra["rotationType"] != "AUTOMATIC" || extra["keyId"] != id {
				t.Errorf("RotateKey record = %v", r)
			}
		case "EnableKeyRotation":
			enable++
			if params, _ := r["requestParameters"].(map[string]any); params["keyId"] != id || params["rotationPeriodInDays"] != float64(90) {
				t.Errorf("EnableKeyRotation record parameters = %v", r["requestParameters"])
			}
		}
	}
	if rotateKey != 2 || enable != 1 {
		t.Fatalf("audit has %d RotateKey and %d EnableKeyRotation records, want 2 and 1", rotateKey, enable)
	}
	if _, err := audit.VerifyFile(n.AuditPath); err != nil {
		t.Fatalf("audit chain across restarts: %v", err)
	}
}
