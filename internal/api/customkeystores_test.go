package api_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestDescribeCustomKeyStoresWithoutStores: an account without custom key
// stores lists an empty page (so SDK paginators end), and a filter on a
// store that does not exist answers CustomKeyStoreNotFoundException.
func TestDescribeCustomKeyStoresWithoutStores(t *testing.T) {
	s := newServer(t)
	out, err := s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{})
	if err != nil {
		t.Fatal(err)
	}
	if out.CustomKeyStores == nil || len(out.CustomKeyStores) != 0 || out.Truncated || out.NextMarker != nil {
		t.Fatalf("DescribeCustomKeyStores = %+v, want an empty, complete page", out)
	}
	r := s.post("TrentService.DescribeCustomKeyStores", []byte(`{}`))
	if r.Status != 200 || string(r.Body) != `{"CustomKeyStores":[],"Truncated":false}` {
		t.Fatalf("wire answer %d %s", r.Status, r.Body)
	}

	pages := 0
	for p := kms.NewDescribeCustomKeyStoresPaginator(s.Client, &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(1)}); p.HasMorePages(); {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		if pages++; pages > 1 || len(page.CustomKeyStores) != 0 {
			t.Fatalf("page %d: %+v", pages, page)
		}
	}

	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantError(t, err, "CustomKeyStoreNotFoundException", "Custom key store cks-1234567890abcdef0 does not exist.")
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("ExampleKeyStore")})
	wantError(t, err, "CustomKeyStoreNotFoundException", "Custom key store with name ExampleKeyStore does not exist.")
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0"), CustomKeyStoreName: aws.String("ExampleKeyStore")})
	wantCode(t, err, "ValidationException")
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{Marker: aws.String("bm90LWEtbWFya2Vy")})
	wantCode(t, err, "InvalidMarkerException")
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(0)})
	wantCode(t, err, "ValidationException")

	// Every call is audited, as a read-only call with its parameters.
	var found, notFound int
	for _, rec := range s.readAudit() {
		if rec["eventName"] != "DescribeCustomKeyStores" {
			continue
		}
		if rec["readOnly"] != true {
			t.Errorf("record %v is not read-only", rec)
		}
		switch rec["errorCode"] {
		case nil:
			found++
		case "CustomKeyStoreNotFoundException":
			notFound++
			params, _ := rec["requestParameters"].(map[string]any)
			if params["customKeyStoreId"] == nil && params["customKeyStoreName"] == nil {
				t.Errorf("record %v lacks the filter", rec)
			}
		}
	}
	if found < 3 || notFound != 2 {
		t.Fatalf("audit holds %d successful and %d not-found DescribeCustomKeyStores records, want ≥3 and 2", found, notFound)
	}
}

// TestDescribeCustomKeyStoresAuthorization: the operation is authorized by
// identity policies only, like ListKeys.
func TestDescribeCustomKeyStoresAuthorization(t *testing.T) {
	e := startEnforcing(t)
	_, err := e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{})
	if msg := wantCode(t, err, "AccessDeniedException"); !strings.Contains(msg, "kms:DescribeCustomKeyStores") {
		t.Fatalf("AccessDenied message %q does not name the action", msg)
	}
	e.setIdentityPolicy(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeCustomKeyStores","Resource":"*"}]}`)
	if _, err := e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{}); err != nil {
		t.Fatalf("allowed by an identity policy: %v", err)
	}
	_, err = e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantCode(t, err, "CustomKeyStoreNotFoundException")
	e.setIdentityPolicy(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:DescribeCustomKeyStores","Resource":"*"}]}`)
	_, err = e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{})
	wantCode(t, err, "AccessDeniedException")
	// A denied caller learns nothing about which stores exist.
	_, err = e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantCode(t, err, "AccessDeniedException")
}

// TestDescribeCustomKeyStoresWithTheCLI: the AWS CLI pages through
// describe-custom-key-stores with botocore's paginator, as boto3 does.
func TestDescribeCustomKeyStoresWithTheCLI(t *testing.T) {
	s := newServer(t)
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("the AWS CLI is not installed (scripts/ensure-tools.sh installs it)")
	}
	cli := exec.Command("aws", "--endpoint-url", s.URL, "kms", "describe-custom-key-stores", "--page-size", "1", "--output", "json")
	cli.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"AWS_ACCESS_KEY_ID="+testAccessKey, "AWS_SECRET_ACCESS_KEY="+testSecretKey, "AWS_SESSION_TOKEN=",
		"AWS_DEFAULT_REGION="+testRegion, "AWS_MAX_ATTEMPTS=1")
	out, err := cli.CombinedOutput()
	if err != nil {
		t.Fatalf("aws kms describe-custom-key-stores: %v\n%s", err, out)
	}
	if got := strings.Join(strings.Fields(string(out)), ""); got != `{"CustomKeyStores":[]}` {
		t.Fatalf("aws kms describe-custom-key-stores printed %s", out)
	}
}
