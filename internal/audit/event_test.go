package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// fullEvent sets every field Event has, so every name reaches the wire.
func fullEvent() *Event {
	keyARN := "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	return &Event{
		EventVersion: EventVersion,
		UserIdentity: UserIdentity{
			Type:        "AssumedRole",
			PrincipalID: "AROAEXAMPLEROLE:session",
			ARN:         "arn:aws:sts::111122223333:assumed-role/Admin/session",
			AccountID:   "111122223333",
			AccessKeyID: "ASIAEXAMPLEKEY",
			UserName:    "session",
			InvokedBy:   "s3.amazonaws.com",
			SessionContext: &SessionContext{
				SessionIssuer: &SessionIssuer{
					Type: "Role", PrincipalID: "AROAEXAMPLEROLE", ARN: "arn:aws:iam::111122223333:role/Admin",
					AccountID: "111122223333", UserName: "Admin",
				},
				Attributes:     SessionAttributes{CreationDate: "2025-05-20T20:00:00Z", MFAAuthenticated: "false"},
				SourceIdentity: "alice",
			},
		},
		// Not UTC and not on a second: must be written as UTC seconds.
		EventTime:           time.Date(2025, 5, 20, 22, 45, 1, 987654321, time.FixedZone("CEST", 2*3600)),
		EventSource:         EventSource,
		EventName:           "Decrypt",
		AWSRegion:           "us-west-2",
		SourceIPAddress:     "192.0.2.10",
		UserAgent:           "aws-cli/2.15.0",
		ErrorCode:           "AccessDeniedException",
		ErrorMessage:        "User is not authorized",
		RequestParameters:   map[string]any{"keyId": keyARN, "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": map[string]string{"Department": "Engineering"}},
		ResponseElements:    map[string]any{"keyId": keyARN},
		AdditionalEventData: map[string]any{"keyMaterialId": "00"},
		RequestID:           "11111111-2222-4333-8444-555555555555",
		EventID:             "66666666-7777-4888-9999-aaaaaaaaaaaa",
		ReadOnly:            true,
		Resources:           []Resource{{AccountID: "111122223333", Type: "AWS::KMS::Key", ARN: keyARN}},
		EventType:           EventType,
		ManagementEvent:     true,
		RecipientAccountID:  "111122223333",
		EventCategory:       EventCategory,
		TLSDetails: &TLSDetails{
			TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_256_GCM_SHA384",
			ClientProvidedHostHeader: "kms.us-west-2.amazonaws.com", KeyExchange: "X25519MLKEM768",
		},
	}
}

// keyPaths collects the dotted member names of a JSON value, not
// descending into the free-form members.
func keyPaths(prefix string, v any, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			// These hold per-operation data, not CloudTrail schema.
			if prefix == "" && slices.Contains([]string{"requestParameters", "responseElements", "additionalEventData"}, k) {
				continue
			}
			keyPaths(p, sub, out)
		}
	case []any:
		for _, sub := range v {
			keyPaths(prefix+"[]", sub, out)
		}
	}
}

func TestFieldNamesMatchCloudTrail(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join("testdata", "cloudtrail_kms_events.json"))
	if err != nil {
		t.Fatal(err)
	}
	var refEvents []any
	if err := json.Unmarshal(ref, &refEvents); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, ev := range refEvents {
		keyPaths("", ev, want)
	}

	b, err := json.Marshal(fullEvent())
	if err != nil {
		t.Fatal(err)
	}
	var ours any
	if err := json.Unmarshal(b, &ours); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	keyPaths("", ours, got)

	for p := range got {
		if !want[p] {
			t.Errorf("kmsd writes %q, which CloudTrail does not", p)
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("CloudTrail writes %q, which kmsd cannot", p)
		}
	}
}

func TestEventGolden(t *testing.T) {
	b, err := json.Marshal(fullEvent())
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "event.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("marshalled event differs from %s (run with -update after checking):\n%s", golden, pretty.Bytes())
	}
	if !strings.Contains(string(b), `"eventTime":"2025-05-20T20:45:01Z"`) {
		t.Errorf("eventTime not in CloudTrail's UTC second form: %s", b)
	}
}

func TestEventNullMapsAndRoundTrip(t *testing.T) {
	ev := NewEvent("ListKeys", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"requestParameters":null`, `"responseElements":null`, `"managementEvent":true`,
		`"eventSource":"kms.amazonaws.com"`, `"eventType":"AwsApiCall"`, `"eventCategory":"Management"`, `"eventVersion":"1.11"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("missing %s in %s", s, b)
		}
	}
	for _, s := range []string{"additionalEventData", "errorCode", "resources", "tlsDetails", "sessionContext"} {
		if strings.Contains(string(b), s) {
			t.Errorf("empty %s should be omitted: %s", s, b)
		}
	}

	in := fullEvent()
	b, _ = json.Marshal(in)
	var out Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.EventTime.Equal(in.EventTime.Truncate(time.Second)) || out.EventID != in.EventID ||
		out.UserIdentity.SessionContext.SessionIssuer.ARN != in.UserIdentity.SessionContext.SessionIssuer.ARN {
		t.Errorf("round trip lost data: %+v", out)
	}
}
