package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// listAliases returns every alias, optionally of one key, by name, leaving
// out the predefined AWS aliases that have no key yet (managedkeys_test.go).
func (s *testServer) listAliases(keyID string) map[string]types.AliasListEntry {
	s.t.Helper()
	in := &kms.ListAliasesInput{}
	if keyID != "" {
		in.KeyId = aws.String(keyID)
	}
	out := map[string]types.AliasListEntry{}
	p := kms.NewListAliasesPaginator(s.Client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			s.t.Fatalf("ListAliases: %v", err)
		}
		for _, a := range page.Aliases {
			name := aws.ToString(a.AliasName)
			if a.TargetKeyId == nil && strings.HasPrefix(name, "alias/aws/") {
				continue
			}
			if _, dup := out[name]; dup {
				s.t.Errorf("alias %s listed twice", name)
			}
			out[name] = a
		}
	}
	return out
}

func TestAliasLifecycle(t *testing.T) {
	s := newServer(t)
	k1 := aws.ToString(s.createKey("one").KeyId)
	k2 := aws.ToString(s.createKey("two").KeyId)

	created := s.Clock.Now()
	// TargetKeyId may be a key ID or a key ARN.
	s.createAlias("alias/app", k1)
	s.createAlias("alias/App", keyARN(testRegion, k1)) // names are case-sensitive
	s.createAlias("alias/other_one-1/x/y", k2)

	all := s.listAliases("")
	if len(all) != 3 {
		t.Fatalf("ListAliases: %d aliases, want 3: %v", len(all), all)
	}
	a := all["alias/app"]
	if aws.ToString(a.AliasArn) != aliasARN(testRegion, "alias/app") || aws.ToString(a.TargetKeyId) != k1 {
		t.Errorf("alias/app = %+v", a)
	}
	if a.CreationDate == nil || !a.CreationDate.Equal(created) || a.LastUpdatedDate == nil || !a.LastUpdatedDate.Equal(created) {
		t.Errorf("alias/app dates: created %v, updated %v, want %v", a.CreationDate, a.LastUpdatedDate, created)
	}
	if got := s.listAliases(k2); len(got) != 1 || aws.ToString(got["alias/other_one-1/x/y"].TargetKeyId) != k2 {
		t.Errorf("ListAliases KeyId=%s: %v", k2, got)
	}
	if got := s.listAliases(keyARN(testRegion, k1)); len(got) != 2 {
		t.Errorf("ListAliases by key ARN: %d aliases, want 2", len(got))
	}

	_, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(k2)})
	wantCode(t, err, "AlreadyExistsException")
	if got := aws.ToString(s.describe("alias/app").KeyId); got != k1 {
		t.Errorf("a rejected CreateAlias moved alias/app to %s", got)
	}

	// UpdateAlias re-points the alias; encryption by alias follows it.
	s.Clock.Add(time.Hour)
	if _, err := s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(k2)}); err != nil {
		t.Fatal(err)
	}
	if out := s.encrypt("alias/app", []byte("x"), nil); aws.ToString(out.KeyId) != keyARN(testRegion, k2) {
		t.Errorf("Encrypt via updated alias used %s", aws.ToString(out.KeyId))
	}
	a = s.listAliases("")["alias/app"]
	if aws.ToString(a.TargetKeyId) != k2 || !a.CreationDate.Equal(created) || !a.LastUpdatedDate.Equal(s.Clock.Now()) {
		t.Errorf("after UpdateAlias: %+v (created %v updated %v)", a, a.CreationDate, a.LastUpdatedDate)
	}
	_, err = s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/missing"), TargetKeyId: aws.String(k2)})
	wantError(t, err, "NotFoundException", "Alias "+aliasARN(testRegion, "alias/missing")+" is not found.")
	unknown := "0b1f3c6e-9d7a-4e2b-8f11-2a3b4c5d6e7f"
	_, err = s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(unknown)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")
	_, err = s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/new"), TargetKeyId: aws.String(unknown)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")

	// DeleteAlias removes the alias, not the key.
	if _, err := s.Client.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/app")})
	wantError(t, err, "NotFoundException", "Alias "+aliasARN(testRegion, "alias/app")+" is not found.")
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("alias/app"), Plaintext: []byte("x")})
	wantError(t, err, "NotFoundException", "Alias "+aliasARN(testRegion, "alias/app")+" is not found.")
	checkSymmetricMetadata(t, s.describe(k2), types.KeyStateEnabled, s.describe(k2).CreationDate.UTC())
	_, err = s.Client.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})
	wantError(t, err, "NotFoundException", "Alias "+aliasARN(testRegion, "alias/app")+" is not found.")
	if got := s.listAliases(""); len(got) != 2 {
		t.Errorf("after DeleteAlias: %d aliases, want 2", len(got))
	}
	// The name is free again.
	s.createAlias("alias/app", k1)
}

func TestAliasNameRules(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	const prefixMsg = `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`
	cases := []struct {
		name, alias, code, msg string
	}{
		{"no prefix", "app", "ValidationException", prefixMsg},
		{"other prefix", "aliases/app", "ValidationException", prefixMsg},
		{"reserved", "alias/aws/s3", "NotAuthorizedException", ""},
		{"space", "alias/bad name", "ValidationException", ""},
		{"bang", "alias/bad!", "ValidationException", ""},
		{"dot", "alias/a.b", "ValidationException", ""},
		{"257 characters", "alias/" + strings.Repeat("a", 251), "ValidationException", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String(tc.alias), TargetKeyId: aws.String(id)})
			msg := wantCode(t, err, tc.code)
			if tc.msg != "" && msg != tc.msg {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
		})
	}
	if got := s.listAliases(""); len(got) != 0 {
		t.Errorf("rejected names were created: %v", got)
	}
	// 256 characters is the longest name.
	s.createAlias("alias/"+strings.Repeat("a", 250), id)
	// An alias cannot target another alias.
	s.createAlias("alias/first", id)
	_, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/second"), TargetKeyId: aws.String("alias/first")})
	wantError(t, err, "ValidationException", "Aliases must refer to keys. Not aliases")
}

func TestListAliasesPagination(t *testing.T) {
	s := newServer(t)
	k1 := aws.ToString(s.createKey("").KeyId)
	k2 := aws.ToString(s.createKey("").KeyId)
	want := map[string]bool{}
	for i := range 7 {
		name := fmt.Sprintf("alias/page-%d", i)
		target := k1
		if i%2 == 1 {
			target = k2
		}
		s.createAlias(name, target)
		want[name] = true
	}
	for _, name := range predefinedAliases { // listed in every account
		want[name] = true
	}

	seen := map[string]int{}
	var marker *string
	pages := 0
	for {
		out, err := s.Client.ListAliases(bg, &kms.ListAliasesInput{Limit: aws.Int32(3), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Aliases) > 3 {
			t.Fatalf("page of %d aliases with Limit 3", len(out.Aliases))
		}
		for _, a := range out.Aliases {
			seen[aws.ToString(a.AliasName)]++
		}
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Errorf("last page has NextMarker %q", *out.NextMarker)
			}
			break
		}
		marker = out.NextMarker
	}
	if n := (len(want) + 2) / 3; pages != n {
		t.Errorf("%d pages, want %d", pages, n)
	}
	checkExactlyOnce(t, seen, want)

	// Filtered by key, pages still hold only that key's aliases.
	seen = map[string]int{}
	p := kms.NewListAliasesPaginator(s.Client, &kms.ListAliasesInput{KeyId: aws.String(k2), Limit: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Aliases {
			if aws.ToString(a.TargetKeyId) != k2 {
				t.Errorf("filtered listing returned %s → %s", aws.ToString(a.AliasName), aws.ToString(a.TargetKeyId))
			}
			seen[aws.ToString(a.AliasName)]++
		}
	}
	checkExactlyOnce(t, seen, map[string]bool{"alias/page-1": true, "alias/page-3": true, "alias/page-5": true})

	_, err := s.Client.ListAliases(bg, &kms.ListAliasesInput{Marker: aws.String("not a marker!")})
	wantCode(t, err, "InvalidMarkerException")
	_, err = s.Client.ListAliases(bg, &kms.ListAliasesInput{Limit: aws.Int32(0)})
	wantCode(t, err, "ValidationException")
	unknown := "0b1f3c6e-9d7a-4e2b-8f11-2a3b4c5d6e7f"
	_, err = s.Client.ListAliases(bg, &kms.ListAliasesInput{KeyId: aws.String(unknown)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")
}

func TestTags(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	tag := func(k, v string) types.Tag { return types.Tag{TagKey: aws.String(k), TagValue: aws.String(v)} }
	tagsOf := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		p := kms.NewListResourceTagsPaginator(s.Client, &kms.ListResourceTagsInput{KeyId: aws.String(id)})
		for p.HasMorePages() {
			page, err := p.NextPage(bg)
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range page.Tags {
				if _, dup := out[aws.ToString(tg.TagKey)]; dup {
					t.Errorf("tag %s listed twice", aws.ToString(tg.TagKey))
				}
				out[aws.ToString(tg.TagKey)] = aws.ToString(tg.TagValue)
			}
		}
		return out
	}
	equal := func(got, want map[string]string) bool {
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				return false
			}
		}
		return true
	}

	if _, err := s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(id), Tags: []types.Tag{tag("env", "prod"), tag("Env", "Prod"), tag("other", "o")}}); err != nil {
		t.Fatal(err)
	}
	// Overwrite one, add one; by key ARN.
	if _, err := s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(keyARN(testRegion, id)), Tags: []types.Tag{tag("env", "dev"), tag("team", "x")}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"env": "dev", "Env": "Prod", "other": "o", "team": "x"}
	if got := tagsOf(); !equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
	// Untagging absent keys is not an error.
	if _, err := s.Client.UntagResource(bg, &kms.UntagResourceInput{KeyId: aws.String(id), TagKeys: []string{"Env", "absent"}}); err != nil {
		t.Fatal(err)
	}
	delete(want, "Env")
	if got := tagsOf(); !equal(got, want) {
		t.Errorf("tags after untag = %v, want %v", got, want)
	}

	rejected := []struct {
		name string
		tags []types.Tag
		code string
		msg  string
	}{
		{"aws: prefix", []types.Tag{tag("aws:x", "1")}, "TagException", "Tags beginning with aws: are reserved"},
		{"duplicate keys", []types.Tag{tag("d", "1"), tag("d", "2")}, "TagException", "Duplicate tag keys"},
		{"129-character key", []types.Tag{tag(strings.Repeat("k", 129), "1")}, "ValidationException", ""},
		{"257-character value", []types.Tag{tag("k", strings.Repeat("v", 257))}, "ValidationException", ""},
		{"empty key", []types.Tag{tag("", "v")}, "ValidationException", ""},
		{"48 more tags (51 in all)", manyTags(48), "TagException", "Too many tags"},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(id), Tags: tc.tags})
			msg := wantCode(t, err, tc.code)
			if tc.msg != "" && msg != tc.msg {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
			if got := tagsOf(); !equal(got, want) {
				t.Errorf("a rejected TagResource changed the tags: %v", got)
			}
		})
	}
	_, err := s.Client.UntagResource(bg, &kms.UntagResourceInput{KeyId: aws.String(id), TagKeys: []string{"aws:x"}})
	wantError(t, err, "TagException", "Tags beginning with aws: are reserved")

	// Up to 50 in all is fine.
	if _, err := s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(id), Tags: manyTags(47)}); err != nil {
		t.Fatalf("TagResource to 50 tags: %v", err)
	}
	if got := tagsOf(); len(got) != 50 {
		t.Errorf("%d tags, want 50", len(got))
	}

	unknown := "0b1f3c6e-9d7a-4e2b-8f11-2a3b4c5d6e7f"
	_, err = s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(unknown), Tags: []types.Tag{tag("a", "b")}})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")
	_, err = s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(unknown)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")
}

func manyTags(n int) []types.Tag {
	var ts []types.Tag
	for i := range n {
		ts = append(ts, types.Tag{TagKey: aws.String(fmt.Sprintf("many-%02d", i)), TagValue: aws.String("v")})
	}
	return ts
}

func TestListResourceTagsPagination(t *testing.T) {
	s := newServer(t)
	out, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{Tags: manyTags(7)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	want := map[string]bool{}
	for _, tg := range manyTags(7) {
		want[aws.ToString(tg.TagKey)] = true
	}

	seen := map[string]int{}
	var marker *string
	var sizes []int
	for {
		page, err := s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(id), Limit: aws.Int32(3), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Tags))
		for _, tg := range page.Tags {
			seen[aws.ToString(tg.TagKey)]++
		}
		if !page.Truncated {
			if page.NextMarker != nil {
				t.Errorf("last page has NextMarker %q", *page.NextMarker)
			}
			break
		}
		marker = page.NextMarker
	}
	if fmt.Sprint(sizes) != "[3 3 1]" {
		t.Errorf("page sizes %v, want [3 3 1]", sizes)
	}
	checkExactlyOnce(t, seen, want)

	all, err := s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Tags) != 7 || all.Truncated || all.NextMarker != nil {
		t.Errorf("default limit: %d tags, Truncated %v", len(all.Tags), all.Truncated)
	}
	_, err = s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(id), Marker: aws.String("not a marker!")})
	wantCode(t, err, "InvalidMarkerException")
	_, err = s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(id), Limit: aws.Int32(0)})
	wantCode(t, err, "ValidationException")
	// An empty tag list is an empty list, not an error.
	bare := aws.ToString(s.createKey("").KeyId)
	empty, err := s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(bare)})
	if err != nil || len(empty.Tags) != 0 || empty.Truncated {
		t.Errorf("ListResourceTags of an untagged key: %v %+v", err, empty)
	}
}

// TestEmptyTagValue: TagValue is 0–256 characters, so AWS accepts an empty value.
func TestEmptyTagValue(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	_, err := s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(id), Tags: []types.Tag{{TagKey: aws.String("flag"), TagValue: aws.String("")}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tags) != 1 || aws.ToString(out.Tags[0].TagKey) != "flag" || out.Tags[0].TagValue == nil || *out.Tags[0].TagValue != "" {
		t.Errorf("tags = %+v, want flag=\"\"", out.Tags)
	}
}
