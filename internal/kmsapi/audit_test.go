package kmsapi

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const canary = "CANARY-7f3a9c"

// secretMembers are the string members that hold secrets; every blob is one too.
var secretMembers = map[string]bool{
	"GrantToken": true, "GrantTokens": true, // bearer tokens
	"KeyStorePassword": true, "AccessKeyId": true, "RawSecretAccessKey": true, // sensitive in the model
}

// poison replaces every blob and every secret string reachable from v by the canary.
func poison(v reflect.Value, name string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			poison(v.Elem(), name)
		}
	case reflect.Struct:
		if v.Type() == timestampType {
			return
		}
		for i := range v.NumField() {
			poison(v.Field(i), v.Type().Field(i).Name)
		}
	case reflect.String:
		if secretMembers[name] {
			v.SetString(canary)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(canary))
			return
		}
		for i := range v.Len() {
			poison(v.Index(i), name)
		}
	}
}

func TestAuditViewsHideSecrets(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(canary))
	check := func(t *testing.T, what string, view map[string]any) {
		t.Helper()
		b, err := json.Marshal(view)
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); strings.Contains(s, canary) || strings.Contains(s, b64[:12]) {
			t.Errorf("%s leaks a secret: %s", what, s)
		}
	}
	for _, op := range Operations {
		in, out := NewInput(op), NewOutput(op)
		for _, v := range []any{in, out} {
			fill(reflect.ValueOf(v).Elem(), op, false)
			poison(reflect.ValueOf(v).Elem(), op)
		}
		check(t, op+"Input.RequestParameters", in.RequestParameters())
		check(t, op+"Output.ResponseElements", out.ResponseElements())
	}
}

func TestAuditViews(t *testing.T) {
	in := &EncryptInput{
		KeyId:               "alias/app",
		Plaintext:           []byte("secret"),
		EncryptionContext:   map[string]string{"tenant": "a"},
		GrantTokens:         []string{"token"},
		EncryptionAlgorithm: EncryptionAlgorithmSpecSymmetricDefault,
		DryRun:              Bool(false),
	}
	want := map[string]any{
		"keyId":               "alias/app",
		"encryptionContext":   map[string]any{"tenant": "a"},
		"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
		"dryRun":              false,
	}
	if got := in.RequestParameters(); !reflect.DeepEqual(got, want) {
		t.Errorf("EncryptInput.RequestParameters() = %v, want %v", got, want)
	}

	out := &CreateKeyOutput{KeyMetadata: &KeyMetadata{
		KeyId:             "k",
		CreationDate:      Time(time.Unix(1700000000, 123_000_000)),
		Enabled:           Bool(false),
		KeySpec:           KeySpecMLDSA65,
		SigningAlgorithms: []SigningAlgorithmSpec{SigningAlgorithmSpecMLDSASHAKE256},
		MultiRegionConfiguration: &MultiRegionConfiguration{
			PrimaryKey: &MultiRegionKey{Arn: "arn", Region: "us-east-1"},
		},
	}}
	wantOut := map[string]any{"keyMetadata": map[string]any{
		"keyId":                    "k",
		"creationDate":             "2023-11-14T22:13:20.123Z",
		"enabled":                  false,
		"description":              "", // CloudTrail records it even when empty, as the response does
		"keySpec":                  "ML_DSA_65",
		"signingAlgorithms":        []any{"ML_DSA_SHAKE_256"},
		"multiRegionConfiguration": map[string]any{"primaryKey": map[string]any{"arn": "arn", "region": "us-east-1"}},
	}}
	if got := out.ResponseElements(); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("CreateKeyOutput.ResponseElements() = %v, want %v", got, wantOut)
	}

	grant := &CreateGrantOutput{GrantId: "g", GrantToken: "token"}
	if got := grant.ResponseElements(); !reflect.DeepEqual(got, map[string]any{"grantId": "g"}) {
		t.Errorf("CreateGrantOutput.ResponseElements() = %v", got)
	}
	tags := &TagResourceInput{KeyId: "k", Tags: []Tag{{TagKey: "a", TagValue: ""}}}
	if got := tags.RequestParameters(); !reflect.DeepEqual(got, map[string]any{"keyId": "k", "tags": []any{map[string]any{"tagKey": "a", "tagValue": ""}}}) {
		t.Errorf("TagResourceInput.RequestParameters() = %v", got)
	}
	if (&ListKeysInput{}).RequestParameters() != nil || (&GenerateRandomOutput{Plaintext: []byte("x")}).ResponseElements() != nil ||
		(*EncryptInput)(nil).RequestParameters() != nil || (&EnableKeyOutput{}).ResponseElements() != nil {
		t.Error("empty views must be nil")
	}
}
