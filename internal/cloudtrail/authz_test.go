package cloudtrail_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

// TestIdentityPoliciesDecide checks who may look up events: an IAM user
// needs cloudtrail:LookupEvents in an identity policy, KMS permissions do
// not grant it, an explicit deny wins, and every refusal is recorded.
func TestIdentityPoliciesDecide(t *testing.T) {
	s := start(t)
	allow := map[string]any{"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}
	for _, tc := range []struct {
		user, policy, denied string
	}{
		{"nopolicy", "", "because no identity-based policy allows the cloudtrail:LookupEvents action"},
		{"kmsonly", statements(map[string]any{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}),
			"because no identity-based policy allows the cloudtrail:LookupEvents action"},
		{"reader", statements(allow), ""},
		{"wildcard", statements(map[string]any{"Effect": "Allow", "Action": "cloudtrail:Lookup*", "Resource": "*"}), ""},
		{"denied", statements(map[string]any{"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"},
			map[string]any{"Effect": "Deny", "Action": "cloudtrail:LookupEvents", "Resource": "*"}),
			"with an explicit deny in an identity-based policy"},
	} {
		c := s.user(tc.user, tc.policy)
		_, err := s.trail(c, "us-east-1").LookupEvents(bg, &cloudtrail.LookupEventsInput{})
		if tc.denied == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.user, err)
			}
			continue
		}
		msg := wantErr(t, err, "AccessDeniedException", http.StatusBadRequest)
		want := "User: arn:aws:iam::111122223333:user/" + tc.user + " is not authorized to perform: cloudtrail:LookupEvents " + tc.denied
		if msg != want {
			t.Errorf("%s: message %q\nwant %q", tc.user, msg, want)
		}
	}

	// The refusals are in the trail, with AWS's error code.
	out, err := s.trail(root, "us-east-1").LookupEvents(bg, &cloudtrail.LookupEventsInput{
		LookupAttributes: []types.LookupAttribute{{AttributeKey: types.LookupAttributeKeyUsername, AttributeValue: aws.String("nopolicy")}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 1 || !strings.Contains(aws.ToString(out.Events[0].CloudTrailEvent), `"errorCode":"AccessDeniedException"`) {
		t.Errorf("refusal not recorded: %+v", out.Events)
	}
}
