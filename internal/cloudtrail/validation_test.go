package cloudtrail_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

// TestValidationErrors sends each kind of invalid request and checks
// AWS's exception for it; the valid requests at each limit succeed.
func TestValidationErrors(t *testing.T) {
	s := start(t)
	c := s.trail(root, "us-east-1")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	page, err := c.LookupEvents(bg, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	for page.NextToken == nil { // each lookup records one event: two make a second page
		if page, err = c.LookupEvents(bg, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	token := page.NextToken
	for _, tc := range []struct {
		name string
		in   cloudtrail.LookupEventsInput
		code string // "" for success
		msg  string
	}{
		{"two attributes", cloudtrail.LookupEventsInput{LookupAttributes: append(byAttr("EventName", "Encrypt"), byAttr("Username", "root")...)},
			"InvalidLookupAttributesException", "You can specify only one lookup attribute; the request has 2."},
		{"unknown key", cloudtrail.LookupEventsInput{LookupAttributes: byAttr("Colour", "blue")},
			"InvalidLookupAttributesException", "Lookup attribute key 'Colour' is not valid. Valid keys: EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId."},
		{"empty value", cloudtrail.LookupEventsInput{LookupAttributes: byAttr("Username", "")},
			"InvalidLookupAttributesException", "A lookup attribute needs an AttributeValue of at least 1 character."},
		{"value of 2001 characters", cloudtrail.LookupEventsInput{LookupAttributes: byAttr("ResourceName", strings.Repeat("a", 2001))},
			"InvalidLookupAttributesException", "AttributeValue is 2001 characters long, counting each '_', ' ', ',' and newline as two; the limit is 2000."},
		{"value of 2000 characters", cloudtrail.LookupEventsInput{LookupAttributes: byAttr("ResourceName", strings.Repeat("a", 2000))}, "", ""},
		{"1000 underscores count 2000", cloudtrail.LookupEventsInput{LookupAttributes: byAttr("ResourceName", strings.Repeat("_", 1000))}, "", ""},
		{"1001 underscores count 2002", cloudtrail.LookupEventsInput{LookupAttributes: byAttr("ResourceName", strings.Repeat("_", 1001))},
			"InvalidLookupAttributesException", "AttributeValue is 2002 characters long, counting each '_', ' ', ',' and newline as two; the limit is 2000."},
		{"MaxResults 0", cloudtrail.LookupEventsInput{MaxResults: aws.Int32(0)},
			"InvalidMaxResultsException", "MaxResults 0 is not valid. Specify a value from 1 through 50."},
		{"MaxResults 51", cloudtrail.LookupEventsInput{MaxResults: aws.Int32(51)},
			"InvalidMaxResultsException", "MaxResults 51 is not valid. Specify a value from 1 through 50."},
		{"MaxResults 50", cloudtrail.LookupEventsInput{MaxResults: aws.Int32(50)}, "", ""},
		{"start after end", cloudtrail.LookupEventsInput{StartTime: aws.Time(t0.Add(time.Second)), EndTime: aws.Time(t0)},
			"InvalidTimeRangeException", "The start time 2026-01-02T03:04:06Z is after the end time 2026-01-02T03:04:05Z."},
		{"start at end", cloudtrail.LookupEventsInput{StartTime: aws.Time(t0), EndTime: aws.Time(t0)}, "", ""},
		{"unknown category", cloudtrail.LookupEventsInput{EventCategory: "data"},
			"InvalidEventCategoryException", "Event category 'data' is not valid. The only valid event category is insight."},
		{"Insights by user name", cloudtrail.LookupEventsInput{EventCategory: types.EventCategoryInsight, LookupAttributes: byAttr("Username", "root")},
			"InvalidLookupAttributesException", "Insights events can be looked up only by EventId, EventName or EventSource, not by Username."},
		{"Insights", cloudtrail.LookupEventsInput{EventCategory: types.EventCategoryInsight}, "", ""},
		{"malformed token", cloudtrail.LookupEventsInput{NextToken: aws.String("not-a-token")},
			"InvalidNextTokenException", "Invalid NextToken. A NextToken is valid only with the parameters of the request that returned it."},
		{"token with other parameters", cloudtrail.LookupEventsInput{NextToken: token, LookupAttributes: byAttr("Username", "root")},
			"InvalidNextTokenException", "Invalid NextToken. A NextToken is valid only with the parameters of the request that returned it."},
		{"token with another MaxResults", cloudtrail.LookupEventsInput{NextToken: token, MaxResults: aws.Int32(5)}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.LookupEvents(bg, &tc.in)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.Events == nil {
					t.Error("no Events list")
				}
				return
			}
			if msg := wantErr(t, err, tc.code, http.StatusBadRequest); msg != tc.msg {
				t.Errorf("message %q\nwant      %q", msg, tc.msg)
			}
		})
	}
}

// TestMalformedBodies sends signed requests whose JSON AWS refuses with
// SerializationException.
func TestMalformedBodies(t *testing.T) {
	s := start(t)
	for _, tc := range []struct{ body, msg string }{
		{`{"MaxResults": 5,`, "Malformed JSON at byte offset 17"},
		{`{"MaxResults": 5, "MaxResults": 6}`, "Duplicate member name at byte offset 18"},
		{`{"MaxResults": "five"}`, "Value cannot be converted to the type of field MaxResults"},
		{`[1]`, "The request body is not a JSON object"},
	} {
		status, body := s.signedPost(t, "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents", tc.body)
		want := `{"__type":"SerializationException","message":"` + tc.msg + `"}`
		if status != http.StatusBadRequest || body != want {
			t.Errorf("%s: HTTP %d %s\nwant %s", tc.body, status, body, want)
		}
	}
	status, body := s.signedPost(t, "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.NoSuchOperation", `{}`)
	if status != http.StatusBadRequest || !strings.Contains(body, `"__type":"UnknownOperationException"`) {
		t.Errorf("unknown operation: HTTP %d %s", status, body)
	}
}

// signedPost sends body to the CloudTrail target, signed by the root.
func (s *server) signedPost(t *testing.T, target, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	cr, err := root.provider().Retrieve(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v4.NewSigner().SignHTTP(bg, cr, req, hex.EncodeToString(sum[:]), "cloudtrail", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
