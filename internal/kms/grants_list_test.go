package kms

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

func TestListGrantsPages(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	var ids []string
	for i := range 23 {
		grantee := gBobB
		if i%3 == 0 {
			grantee = gCarolB
		}
		id, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: grantee, Operations: ops("Encrypt")})
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		out, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, Limit: kmsapi.Int32(5), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out.Grants {
			got = append(got, g.GrantId)
		}
		if !*out.Truncated {
			if out.NextMarker != "" || pages != 4 {
				t.Fatalf("last page: marker %q after %d pages", out.NextMarker, pages)
			}
			break
		}
		marker = out.NextMarker
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("pages returned %d grants, want %d in id order", len(got), len(ids))
	}
	out, _ := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, GranteePrincipal: gCarolB, Limit: kmsapi.Int32(100)})
	if len(out.Grants) != 8 {
		t.Fatalf("GranteePrincipal filter: %d grants, want 8", len(out.Grants))
	}
	out, _ = h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, Limit: kmsapi.Int32(1000)})
	if len(out.Grants) != 23 {
		t.Fatalf("Limit 1000: %d", len(out.Grants))
	}
	_, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, Marker: "bogus"})
	wantGrantCode(t, err, kmserr.InvalidMarker)
	_, err = h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, GrantId: "nope"})
	wantGrantCode(t, err, kmserr.InvalidGrantID)
	_, err = h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: "alias/x"})
	wantGrantCode(t, err, kmserr.InvalidArn) // ListGrants takes no alias
}

func TestListRetirableGrantsAcrossKeysAndAccounts(t *testing.T) {
	h := newGrantHarness(t)
	keyA1, keyA2 := h.symmetricKey(t), h.symmetricKey(t)
	outB, err := h.svc.CreateKey(bg, asPrincipal(gRootB), &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyB := outB.KeyMetadata.Arn
	retiring := "arn:aws:iam::444455556666:user/retirer"
	want := map[string]string{}
	for _, k := range []string{keyA1, keyA2, keyA1} {
		id, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: k, GranteePrincipal: gBobB, RetiringPrincipal: retiring, Operations: ops("Encrypt")})
		want[id] = k
	}
	out, err := h.svc.CreateGrant(bg, asPrincipal(gRootB), &kmsapi.CreateGrantInput{KeyId: keyB, GranteePrincipal: gCarolB, RetiringPrincipal: retiring, Operations: ops("Decrypt")})
	if err != nil {
		t.Fatal(err)
	}
	want[out.GrantId] = keyB
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: keyA2, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Operations: ops("Encrypt")})

	got := map[string]string{}
	marker := ""
	for {
		page, err := h.svc.ListRetirableGrants(bg, asPrincipal(gRootB), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: retiring, Limit: kmsapi.Int32(3), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.Grants {
			if g.RetiringPrincipal != retiring {
				t.Fatalf("entry %+v", g)
			}
			got[g.GrantId] = g.KeyId
		}
		if !*page.Truncated {
			break
		}
		marker = page.NextMarker
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("retirable grants\n got %v\nwant %v", got, want)
	}
	// The listed grants are retirable by that principal.
	for id, k := range want {
		if _, err := h.svc.RetireGrant(bg, asPrincipal(retiring), &kmsapi.RetireGrantInput{KeyId: k, GrantId: id}); err != nil {
			t.Fatalf("retire %s: %v", id, err)
		}
	}
	page, _ := h.svc.ListRetirableGrants(bg, asPrincipal(gRootB), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: retiring})
	if len(page.Grants) != 0 {
		t.Fatalf("retired grants still listed: %+v", page.Grants)
	}
	// A principal of another account, or a service principal, is not the caller's to list.
	_, err = h.svc.ListRetirableGrants(bg, asPrincipal(gRootA), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: retiring})
	wantGrantCode(t, err, kmserr.AccessDenied)
	_, err = h.svc.ListRetirableGrants(bg, asPrincipal(gRootA), &kmsapi.ListRetirableGrantsInput{RetiringServicePrincipal: "logs.amazonaws.com"})
	wantGrantCode(t, err, kmserr.AccessDenied)
	_, err = h.svc.ListRetirableGrants(bg, asPrincipal(gRootA), &kmsapi.ListRetirableGrantsInput{})
	wantGrantCode(t, err, kmserr.Validation)
	_, err = h.svc.ListRetirableGrants(bg, asPrincipal(gRootA), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: "nobody"})
	wantGrantCode(t, err, kmserr.InvalidArn)
}

// storedGrants counts what the store holds about grants.
func storedGrants(t *testing.T, st store.Store) (grants, indexes, counters int) {
	t.Helper()
	err := st.View(bg, func(tx store.Tx) error {
		for _, b := range [][]byte{bucketGrants, bucketGrantNames, bucketGrantsRetiring, bucketCounters} {
			kvs, err := tx.Scan(b, nil, nil, 0)
			if err != nil {
				return err
			}
			switch string(b) {
			case string(bucketGrants):
				grants = len(kvs)
			case string(bucketCounters):
				for _, kv := range kvs {
					if strings.Contains(string(kv.Key), "grants/") {
						counters++
					}
				}
			default:
				indexes += len(kvs)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestGrantsDeletedWithKey(t *testing.T) {
	h := newGrantHarness(t)
	doomed, kept := h.symmetricKey(t), h.symmetricKey(t)
	for range 3 {
		h.grant(t, &kmsapi.CreateGrantInput{KeyId: doomed, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "n", Operations: ops("Encrypt")})
		h.grant(t, &kmsapi.CreateGrantInput{KeyId: doomed, GranteePrincipal: gBobB, RetiringPrincipal: gBobB, Operations: ops("Decrypt")})
	}
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: kept, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "n", Operations: ops("Encrypt")})
	// The named grant is made once; the unnamed ones three times.
	if g, i, c := storedGrants(t, h.st); g != 5 || i != 7 || c != 2 {
		t.Fatalf("before: %d grants, %d index entries, %d counters", g, i, c)
	}
	if _, err := h.svc.ScheduleKeyDeletion(bg, asPrincipal(gRootA), &kmsapi.ScheduleKeyDeletionInput{KeyId: doomed, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(8 * 24 * time.Hour)
	if n, err := h.svc.DeleteDueKeys(bg); err != nil || n != 1 {
		t.Fatalf("DeleteDueKeys: %d %v", n, err)
	}
	if g, i, c := storedGrants(t, h.st); g != 1 || i != 2 || c != 1 {
		t.Fatalf("after: %d grants, %d index entries, %d counters; want only the kept key's", g, i, c)
	}
	page, err := h.svc.ListRetirableGrants(bg, asPrincipal(gRootB), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: gCarolB})
	if err != nil || len(page.Grants) != 1 || page.Grants[0].KeyId != kept {
		t.Fatalf("retirable after deletion: %v %+v", err, page)
	}
}

func TestGrantsSurviveRestart(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	id, token := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "n",
		Operations: ops("Encrypt"), Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}}})
	before, _ := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key})
	h.restart(t)
	after, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key})
	if err != nil || jsonOf(t, before) != jsonOf(t, after) {
		t.Fatalf("grants changed across a restart:\n%+v\n%+v", before, after)
	}
	if err := h.encrypt(gBobB, key, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "n",
		Operations: ops("Encrypt"), Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}}}); again != id {
		t.Fatal("name idempotency lost across a restart")
	}
	if _, err := h.svc.RetireGrant(bg, asPrincipal(gCarolB), &kmsapi.RetireGrantInput{GrantToken: token}); err != nil {
		t.Fatalf("retire by a token issued before the restart: %v", err)
	}
}

// TestGrantQuota fills a key to the quota of 50,000 grants, writing all but
// the last through the store in large transactions, then checks that the
// last CreateGrant succeeds and the next one fails.
func TestGrantQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50,000 grants")
	}
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	ref, _ := parseKeyRef(&asPrincipal(gRootA).Caller, key, keyOnly)
	const batch = 10000
	for done := 0; done < grantsPerKey-1; done += batch {
		err := h.st.Update(bg, func(tx store.Tx) error {
			for i := done; i < min(done+batch, grantsPerKey-1); i++ {
				g := &grantRecord{GrantID: newGrantID(), KeyID: ref.keyID, AccountID: gAcctA, Region: gRegion, Created: h.clock.Now(),
					Grantee: fmt.Sprintf("arn:aws:iam::444455556666:user/u%d", i), IssuingAccount: gRootA, Operations: []string{"Encrypt"}, TokenKey: []byte{0}}
				if err := putGrant(tx, g); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	h.svc.cache.invalidate(cacheKeyID(gAcctA, gRegion, ref.keyID))
	last, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt")})
	_, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gCarolB, Operations: ops("Encrypt")})
	wantGrantCode(t, err, kmserr.LimitExceeded)
	if err := h.encrypt(gBobB, key, nil); err != nil {
		t.Fatalf("grant 50,000: %v", err)
	}
	if err := h.encrypt("arn:aws:iam::444455556666:user/u49998", key, nil); err != nil {
		t.Fatalf("grant 49,999: %v", err)
	}
	if _, err := h.svc.RevokeGrant(bg, asPrincipal(gRootA), &kmsapi.RevokeGrantInput{KeyId: key, GrantId: last}); err != nil {
		t.Fatal(err)
	}
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gCarolB, Operations: ops("Encrypt")})
}

// TestGrantsUnderConcurrency runs CreateGrant, RetireGrant and Encrypt
// together (run it with -race): every request sees a grant either whole or
// not at all, a retired grant is refused by the next request, and the store
// keeps its count exact.
func TestGrantsUnderConcurrency(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	const workers, rounds = 6, 15
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gAliceA, Operations: ops("Encrypt")})
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := fmt.Sprintf("arn:aws:iam::444455556666:user/w%d", w)
			for range rounds {
				out, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: who, RetiringPrincipal: who, Operations: ops("Encrypt")})
				if err != nil {
					errs <- err
					return
				}
				if err := h.encrypt(who, key, nil); err != nil {
					errs <- fmt.Errorf("encrypt after create: %w", err)
				}
				if _, err := h.svc.RetireGrant(bg, asPrincipal(who), &kmsapi.RetireGrantInput{GrantToken: out.GrantToken}); err != nil {
					errs <- err
				}
				if err := h.encrypt(who, key, nil); kmserr.CodeOf(err) != kmserr.AccessDenied {
					errs <- fmt.Errorf("encrypt after retire: %v", err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // an unrelated grantee keeps using its grant throughout
		defer wg.Done()
		for range workers * rounds {
			if err := h.encrypt(gAliceA, key, nil); err != nil {
				errs <- fmt.Errorf("a standing grant failed: %w", err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g, i, c := storedGrants(t, h.st); g != 1 || i != 0 || c != 1 {
		t.Fatalf("want only the standing grant, have %d grants, %d index entries, %d counters", g, i, c)
	}
}
