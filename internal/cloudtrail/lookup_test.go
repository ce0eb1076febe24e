package cloudtrail_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

func byAttr(key types.LookupAttributeKey, value string) []types.LookupAttribute {
	return []types.LookupAttribute{{AttributeKey: key, AttributeValue: aws.String(value)}}
}

func names(evs []types.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, aws.ToString(ev.EventName))
	}
	return out
}

// TestLookupFindsKeyEventsNewestFirst makes a few calls on a key and finds
// them by the key's ARN, newest first, with every field LookupEvents
// shows, then pages through them two at a time.
func TestLookupFindsKeyEventsNewestFirst(t *testing.T) {
	s := start(t)
	k := s.kms(root)
	key, err := k.CreateKey(bg, &kms.CreateKeyInput{Description: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(key.KeyMetadata.Arn)
	for range 2 {
		if _, err := k.Encrypt(bg, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("card 4111")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.DisableKey(bg, &kms.DisableKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.CreateKey(bg, &kms.CreateKeyInput{Description: aws.String("another key")}); err != nil {
		t.Fatal(err)
	}

	out, err := s.trail(root, "us-east-1").LookupEvents(bg, &cloudtrail.LookupEventsInput{LookupAttributes: byAttr(types.LookupAttributeKeyResourceName, arn)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(out.Events), []string{"DisableKey", "Encrypt", "Encrypt", "CreateKey"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v (newest first, and not the other key's)", got, want)
	}
	if out.NextToken != nil {
		t.Errorf("NextToken %q on the only page", *out.NextToken)
	}
	for i, ev := range out.Events {
		if i > 0 && ev.EventTime.After(*out.Events[i-1].EventTime) {
			t.Errorf("event %d is newer than the one before it", i)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &rec); err != nil {
			t.Fatalf("CloudTrailEvent: %v", err)
		}
		if rec["eventID"] != aws.ToString(ev.EventId) || rec["eventName"] != aws.ToString(ev.EventName) || rec["kmsdChain"] != nil {
			t.Errorf("CloudTrailEvent %v does not match the event %s %s (or carries the chain)", rec, *ev.EventId, *ev.EventName)
		}
		if aws.ToString(ev.EventSource) != "kms.amazonaws.com" || aws.ToString(ev.Username) != "root" || aws.ToString(ev.AccessKeyId) != rootKey ||
			len(ev.Resources) != 1 || aws.ToString(ev.Resources[0].ResourceType) != "AWS::KMS::Key" || aws.ToString(ev.Resources[0].ResourceName) != arn {
			t.Errorf("event fields: %+v %+v", ev, ev.Resources)
		}
	}
	if ro := aws.ToString(out.Events[1].ReadOnly); ro != "true" {
		t.Errorf("Encrypt ReadOnly %q", ro)
	}
	if ro := aws.ToString(out.Events[0].ReadOnly); ro != "false" {
		t.Errorf("DisableKey ReadOnly %q", ro)
	}

	// Two at a time through the SDK's paginator, which follows NextToken.
	var paged []string
	pages := 0
	p := cloudtrail.NewLookupEventsPaginator(s.trail(root, "us-east-1"), &cloudtrail.LookupEventsInput{
		LookupAttributes: byAttr(types.LookupAttributeKeyResourceName, arn), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, ev := range page.Events {
			paged = append(paged, aws.ToString(ev.EventId))
		}
	}
	var all []string
	for _, ev := range out.Events {
		all = append(all, aws.ToString(ev.EventId))
	}
	if !slices.Equal(paged, all) || pages != 2 {
		t.Errorf("%d pages of two hold %v, want %v", pages, paged, all)
	}
}

// TestLookupByEveryAttribute finds calls of two users by each attribute
// AWS has, and no attribute at all.
func TestLookupByEveryAttribute(t *testing.T) {
	s := start(t)
	alice := s.user("alice", statements(map[string]any{"Effect": "Allow", "Action": []string{"kms:*", "cloudtrail:LookupEvents"}, "Resource": "*"}))
	key, err := s.kms(alice).CreateKey(bg, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(key.KeyMetadata.Arn)
	if _, err := s.kms(alice).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	c := s.trail(alice, "us-east-1")
	newest, err := c.LookupEvents(bg, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
	if err != nil || len(newest.Events) != 1 || aws.ToString(newest.Events[0].EventName) != "DescribeKey" || newest.NextToken == nil {
		t.Fatalf("newest event: %v %+v", err, newest)
	}
	describeID := aws.ToString(newest.Events[0].EventId)
	for _, tc := range []struct {
		key   types.LookupAttributeKey
		value string
		want  []string
	}{
		{types.LookupAttributeKeyEventId, describeID, []string{"DescribeKey"}},
		{types.LookupAttributeKeyEventName, "CreateKey", []string{"CreateKey"}},
		{types.LookupAttributeKeyReadOnly, "true", []string{"DescribeKey"}},
		{types.LookupAttributeKeyUsername, "alice", []string{"DescribeKey", "CreateKey"}},
		{types.LookupAttributeKeyResourceType, "AWS::KMS::Key", []string{"DescribeKey", "CreateKey"}},
		{types.LookupAttributeKeyResourceName, arn, []string{"DescribeKey", "CreateKey"}},
		{types.LookupAttributeKeyEventSource, "kms.amazonaws.com", []string{"DescribeKey", "CreateKey"}},
		{types.LookupAttributeKeyAccessKeyId, alice.key, []string{"DescribeKey", "CreateKey"}},
		{types.LookupAttributeKeyUsername, "nobody", nil},
	} {
		out, err := c.LookupEvents(bg, &cloudtrail.LookupEventsInput{LookupAttributes: byAttr(tc.key, tc.value)})
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		// Lookups are recorded too; they are left out here.
		var got []string
		for _, name := range names(out.Events) {
			if name != "LookupEvents" {
				got = append(got, name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s=%s: %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
}

// TestLookupEventsIsAudited finds a lookup's own record, as CloudTrail
// records it: a read-only management event of cloudtrail.amazonaws.com.
func TestLookupEventsIsAudited(t *testing.T) {
	s := start(t)
	c := s.trail(root, "us-east-1")
	if _, err := c.LookupEvents(bg, &cloudtrail.LookupEventsInput{
		LookupAttributes: byAttr(types.LookupAttributeKeyEventName, "Encrypt"), StartTime: aws.Time(time.Unix(1_700_000_000, 0)), MaxResults: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.LookupEvents(bg, &cloudtrail.LookupEventsInput{LookupAttributes: byAttr(types.LookupAttributeKeyEventSource, "cloudtrail.amazonaws.com")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 1 || aws.ToString(out.Events[0].EventName) != "LookupEvents" || aws.ToString(out.Events[0].ReadOnly) != "true" {
		t.Fatalf("events %+v", out.Events)
	}
	var rec struct {
		EventSource       string         `json:"eventSource"`
		ManagementEvent   bool           `json:"managementEvent"`
		RequestParameters map[string]any `json:"requestParameters"`
		UserIdentity      struct {
			ARN string `json:"arn"`
		} `json:"userIdentity"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Events[0].CloudTrailEvent)), &rec); err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(rec.RequestParameters)
	if rec.EventSource != "cloudtrail.amazonaws.com" || !rec.ManagementEvent || rec.UserIdentity.ARN != "arn:aws:iam::111122223333:root" ||
		string(params) != `{"lookupAttributes":[{"attributeKey":"EventName","attributeValue":"Encrypt"}],"maxResults":7,"startTime":"2023-11-14T22:13:20Z"}` {
		t.Errorf("record %+v params %s", rec, params)
	}
}

// TestTrailsAreSeparate checks that a caller sees only its account's
// events in the Region it signs for.
func TestTrailsAreSeparate(t *testing.T) {
	s := start(t)
	if _, err := s.kms(root).CreateKey(bg, &kms.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
	out, err := s.trail(root, "eu-west-1").LookupEvents(bg, &cloudtrail.LookupEventsInput{
		LookupAttributes: byAttr(types.LookupAttributeKeyEventSource, "kms.amazonaws.com")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 0 {
		t.Errorf("eu-west-1 shows us-east-1's events: %v", names(out.Events))
	}
	if out.Events == nil {
		t.Error("Events is absent; AWS sends an empty list")
	}
}

// TestOtherOperations answers CloudTrail operations kmsd does not serve
// with UnsupportedOperationException, and unknown targets with
// UnknownOperationException.
func TestOtherOperations(t *testing.T) {
	s := start(t)
	_, err := s.trail(root, "us-east-1").DescribeTrails(bg, &cloudtrail.DescribeTrailsInput{})
	if msg := wantErr(t, err, "UnsupportedOperationException", http.StatusBadRequest); !strings.Contains(msg, "DescribeTrails") {
		t.Errorf("message %q", msg)
	}
}
