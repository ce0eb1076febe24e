package main

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// TestHSMClusterOfAnotherAccount runs kmsd dev --enforce with two accounts
// and a cluster for each (--hsm-cluster account=, default --account-id):
// through the AWS SDK, an account cannot create a store on the other's
// cluster (CloudHsmClusterNotFoundException, as for a cluster that does
// not exist), and a cluster backs one store, whatever the Region.
func TestHSMClusterOfAnotherAccount(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	out, err := exec.Command(kmsdBin, "admin", "create-access-key", "--data", data, "--account-id", acctB).CombinedOutput()
	if err != nil {
		t.Fatalf("admin create-access-key: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)\s+export AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no access key in:\n%s", out)
	}
	const clusterA, clusterB = "cluster-234567aaaaa", "cluster-234567bbbbb"
	p := startKMSD(t, "dev", "--enforce", "--data", data,
		"--hsm-cluster", "id="+clusterA+",module=/usr/lib/softhsm/libsofthsm2.so,token=tenantA",
		"--hsm-cluster", "id="+clusterB+",account="+acctB+",module=/usr/lib/softhsm/libsofthsm2.so,token=tenantB")
	rootA, rootB := p.as(docKey, docSecret, "").kms, p.as(m[1], m[2], "").kms
	create := func(c *kms.Client, name, cluster string) error {
		_, err := c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
			CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cluster), KeyStorePassword: aws.String("guess-0001"),
			TrustAnchorCertificate: aws.String("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
		})
		return err
	}
	message := func(err error, code string) string {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != code {
			t.Fatalf("got %v, want %s", err, code)
		}
		return ae.ErrorMessage()
	}

	missing := message(create(rootB, "b", "cluster-234567zzzzz"), "CloudHsmClusterNotFoundException")
	if got := message(create(rootB, "b", clusterA), "CloudHsmClusterNotFoundException"); got != missing {
		t.Fatalf("another account's cluster answers %q, a missing one %q", got, missing)
	}
	if got := message(create(rootA, "a", clusterB), "CloudHsmClusterNotFoundException"); got != missing {
		t.Fatalf("another account's cluster answers %q, a missing one %q", got, missing)
	}
	if err := create(rootB, "b", clusterB); err != nil {
		t.Fatalf("account B on its own cluster: %v\n%s", err, p.stderr)
	}
	if err := create(rootA, "a", clusterA); err != nil {
		t.Fatalf("account A on its own cluster: %v\n%s", err, p.stderr)
	}
	west := kms.New(rootA.Options(), func(o *kms.Options) { o.Region = "us-west-2" })
	message(create(west, "a", clusterA), "CloudHsmClusterInUseException")
}
