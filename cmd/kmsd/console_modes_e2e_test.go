package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/chromedp/chromedp"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// TestConsoleDevNeedsNoSignIn: plain `kmsd dev` takes unsigned requests
// as the account root, and the console sees that and skips the sign-in.
// It then covers what the enforced scenario leaves out: an asymmetric key
// from the wizard and its public key download, a replica, a retired grant,
// disable and enable.
func TestConsoleDevNeedsNoSignIn(t *testing.T) {
	ctx := context.Background()
	p := startKMSD(t, "dev", "--data", t.TempDir())
	c := p.client(docKey, docSecret)
	b := newBrowser(t, 2*time.Minute)
	b.visit(p.url + "/console/")
	b.waitText("#who", "dev: no sign-in")
	b.waitText("main h1", "Customer managed keys")
	b.waitText("main", "No customer managed keys yet")

	b.click(`//nav//a[normalize-space()="Create key"]`)
	b.click(`//main//label[normalize-space()="Asymmetric"]`)
	b.click(`//main//label[normalize-space()="Sign and verify"]`)
	b.do(chromedp.SetValue(chromedp.Search(labelled("Key spec")), "ECC_NIST_P256", chromedp.NodeVisible))
	eval[bool](b, `document.querySelector("main select").dispatchEvent(new Event("change"))`)
	for _, step := range []string{"Add labels", "Define key administrative permissions", "Define key usage permissions", "Review"} {
		b.click(button("//main", "Next"))
		b.waitText("main h2", step)
	}
	b.waitText("#policy-preview", `"Sid": "Enable IAM User Permissions"`)
	b.waitText("main dl", "ECC_NIST_P256")
	b.click(button("//main", "Finish"))
	b.waitText("main [role=tablist]", "Public key")
	keyID := strings.TrimPrefix(eval[string](b, `location.hash`), "#/keys/")
	pub, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil || pub.KeySpec != "ECC_NIST_P256" || pub.KeyUsage != "SIGN_VERIFY" {
		t.Fatalf("the wizard's key: %+v %v", pub, err)
	}
	b.click(`//button[@role="tab"][normalize-space()="Public key"]`)
	b.waitText("main pre", "-----BEGIN PUBLIC KEY-----")
	downloaded := b.download(button("//main", "Download public key (PEM)"), keyID+".pem")
	block, _ := pem.Decode(downloaded)
	if block == nil || block.Type != "PUBLIC KEY" || !bytes.Equal(block.Bytes, pub.PublicKey) {
		t.Fatalf("the downloaded public key is not the key's:\n%s", downloaded)
	}

	// A multi-Region key gets a replica from its Regionality tab.
	mrk, err := c.CreateKey(ctx, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	mrkID := *mrk.KeyMetadata.KeyId
	b.visit(p.url + "/console/#/keys/" + mrkID + "?tab=regionality")
	b.waitText("main", "No replicas yet.")
	b.typeInto("Replica Region", "us-west-2")
	b.click(button("//main", "Create new replica key"))
	b.waitText("#toasts", "Replica created in us-west-2")
	west := kms.New(kms.Options{Region: "us-west-2", BaseEndpoint: aws.String(p.url), Credentials: credentials.NewStaticCredentialsProvider(docKey, docSecret, ""), RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
	if rep, err := west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(mrkID)}); err != nil || rep.KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType != "REPLICA" {
		t.Fatalf("the console's replica in us-west-2: %v", err)
	}

	// A grant retired from the Grants tab; the key disabled and enabled.
	g, err := c.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(mrkID), GranteePrincipal: aws.String("arn:aws:iam::" + acctA + ":root"),
		RetiringPrincipal: aws.String("arn:aws:iam::" + acctA + ":root"), Operations: []types.GrantOperation{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	b.visit(p.url + "/console/#/keys/" + mrkID + "?tab=grants")
	b.click(`//button[@aria-label="Retire grant ` + *g.GrantId + `"]`)
	b.click(button("//dialog[@open]", "Retire"))
	b.waitText("main", "This key has no grants.")
	if left, err := c.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(mrkID)}); err != nil || len(left.Grants) != 0 {
		t.Fatalf("grants after Retire: %+v %v", left, err)
	}
	b.click(button("//main", "Disable"))
	b.waitText("main dl", "Disabled")
	wantState(t, clients{kms: c}, mrkID, "Disabled")
	b.click(button("//main", "Enable"))
	b.waitText("main dl", "Enabled")
	wantState(t, clients{kms: c}, mrkID, "Enabled")

	// An AWS managed key is listed apart, and its page offers no change.
	s3, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/s3")})
	if err != nil {
		t.Fatal(err)
	}
	b.click(`//nav//a[normalize-space()="AWS managed keys"]`)
	b.waitText("main table", "alias/aws/s3")
	if eval[bool](b, `document.querySelector("main table").innerText.includes(`+jsString(mrkID)+`)`) {
		t.Error("a customer managed key is in the AWS managed list")
	}
	b.click(`//main//a[normalize-space()=` + xpathString(*s3.KeyMetadata.KeyId) + `]`)
	b.waitText("main dl", "AWS managed")
	b.waitText("main [role=tabpanel] table", "Allow")
	if n := eval[int](b, `document.querySelectorAll("main [aria-label='Key actions'] button").length`); n != 0 {
		t.Errorf("an AWS managed key's page offers %d key actions", n)
	}
	b.noErrors()
}

// TestConsoleSaysWhenItCannotSign: a browser gives WebCrypto only to a
// secure context, so a console reached over plain HTTP at a name other
// than localhost cannot sign; it says so and why instead of failing
// later; a plain dev server, which takes no unsigned call from a page at
// a DNS name, gets the same words.
func TestConsoleSaysWhenItCannotSign(t *testing.T) {
	enforced := startKMSD(t, "dev", "--enforce", "--data", t.TempDir())
	open := startKMSD(t, "dev", "--data", t.TempDir())
	// console.test resolves to the loopback address, but is no secure
	// context the way 127.0.0.1 and localhost are.
	b := newBrowser(t, time.Minute, chromedp.Flag("host-resolver-rules", "MAP console.test 127.0.0.1"))
	b.visit(strings.Replace(enforced.url, "127.0.0.1", "console.test", 1) + "/console/")
	b.waitText("main [role=alert]", "InsecureContext")
	b.waitText("main [role=alert]", "Open the console over HTTPS")
	if !eval[bool](b, `document.querySelector("main button[type=submit]").disabled`) {
		t.Error("Sign in stays enabled where requests cannot be signed")
	}
	// A plain dev server takes no unsigned call from a page at a DNS name
	// (it cannot tell one from a name rebound to its address by another
	// site), so the console says where it works instead of breaking.
	b.visit(strings.Replace(open.url, "127.0.0.1", "console.test", 1) + "/console/")
	b.waitText("main [role=alert]", "InsecureContext")
	b.waitText("main [role=alert]", "http://127.0.0.1")
	if txt := eval[string](b, `document.querySelector("#who") ? document.querySelector("#who").textContent : ""`); strings.Contains(txt, "dev: no sign-in") {
		t.Errorf("the console at a DNS name claims unsigned access: %q", txt)
	}
	b.noErrors()
	// At 127.0.0.1 the same server needs no sign-in.
	b.visit(open.url + "/console/")
	b.waitText("#who", "dev: no sign-in")
	b.waitText("main", "No customer managed keys yet")
	b.noErrors()
}

// TestConsoleListeners: the console is where --console puts it, and off
// in serve unless asked.
func TestConsoleListeners(t *testing.T) {
	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	admin := freeAddr(t)
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir(), "--console", "admin", "--admin-listen", admin)
	if got := status(p.url + "/console/"); got == http.StatusOK {
		t.Errorf("--console admin: the API listener serves the console")
	}
	if got := status("http://" + admin + "/console/"); got != http.StatusOK {
		t.Errorf("--console admin: the admin listener answers %d", got)
	}
	// The page's own calls reach the API on the admin listener, signed
	// and refused as on the API listener.
	ac := (&proc{url: "http://" + admin}).client(docKey, docSecret)
	if _, err := ac.ListKeys(context.Background(), &kms.ListKeysInput{}); err != nil {
		t.Errorf("ListKeys on the admin listener: %v", err)
	}
	if _, err := (&proc{url: "http://" + admin}).client(docKey, "wrong-secret").ListKeys(context.Background(), &kms.ListKeysInput{}); errCode(err) != "InvalidSignatureException" && errCode(err) != "UnrecognizedClientException" {
		t.Errorf("a bad signature on the admin listener: %v", err)
	}
	// And the page itself, signed in there, works against the API beside it.
	b := newBrowser(t, time.Minute)
	b.visit("http://" + admin + "/console/")
	b.waitText("h1", "Sign in to kmsd")
	signInAs(b, docKey, docSecret)
	b.waitText("#who", "arn:aws:iam::"+acctA+":root")
	b.waitText("main", "No customer managed keys yet")
	b.noErrors()
	if !strings.Contains(p.stdout.String(), "console: http://"+admin+"/console/ (admin listener)") {
		t.Errorf("banner does not say where the console is:\n%s", p.stdout)
	}

	for _, args := range [][]string{{"dev", "--console", "off"}, {"serve"}} {
		s := startKMSD(t, append(args, "--data", t.TempDir())...)
		if got := status(s.url + "/console/"); got == http.StatusOK {
			t.Errorf("kmsd %v serves the console", args)
		}
		if strings.Contains(s.stdout.String(), "console:") {
			t.Errorf("kmsd %v names a console it does not serve:\n%s", args, s.stdout)
		}
	}
	on := startKMSD(t, "serve", "--data", t.TempDir(), "--console", "on")
	if got := status(on.url + "/console/"); got != http.StatusOK {
		t.Errorf("serve --console on: %d", got)
	}
	out, err := exec.Command(kmsdBin, "dev", "--console", "admin", "--data", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "give --admin-listen too") {
		t.Errorf("--console admin without --admin-listen: %v\n%s", err, out)
	}
	out, err = exec.Command(kmsdBin, "serve", "--print-config", "--console", "admin", "--admin-listen", "0.0.0.0:9090").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "which has no TLS") {
		t.Errorf("serve --console admin on a public admin listener: %v\n%s", err, out)
	}
	out, err = exec.Command(kmsdBin, "serve", "--print-config", "--console", "sideways").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `console "sideways" is not on, off or admin`) {
		t.Errorf("--console sideways: %v\n%s", err, out)
	}
}
