package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestConsoleInBrowser drives the console in headless Chromium against
// `kmsd dev --enforce`, as a person would: sign in, create a key with the
// wizard, label it, edit its policy, rotate it, grant and revoke, see an
// SDK call in the key's audit, schedule and cancel deletion, check access,
// list identities; then sign in as a user with no permission. What the
// page shows is asserted through the DOM, and the state it claims is
// checked through the AWS SDK.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir())
	root := p.as(docKey, docSecret, "")
	newUser(t, p, root, "alice", "")
	newUser(t, p, root, "app", "")
	mallory := mustAccessKey(t, root, "mallory")
	auditor := auditorSession(t, p, root)
	aliceARN, appARN := "arn:aws:iam::"+acctA+":user/alice", "arn:aws:iam::"+acctA+":user/app"

	b := newBrowser(t, 4*time.Minute)
	b.visit(p.url + "/console/")

	// With signatures enforced, the console asks for an access key.
	b.waitText("h1", "Sign in to kmsd")
	signInAs(b, docKey, "not-the-secret")
	b.waitText("main [role=alert]", "Sign-in failed")
	b.waitText("main [role=alert]", "InvalidSignatureException")
	b.waitText("h1", "Sign in to kmsd")
	b.typeInto("Secret access key", docSecret) // the key id stays, the secret is asked again
	b.click(button("//main", "Sign in"))
	b.waitText("h1", "Customer managed keys")
	b.waitText("#who", "arn:aws:iam::"+acctA+":root")
	b.waitText("main", "No customer managed keys yet")

	// The wizard: a symmetric key with an alias, a description and a tag,
	// alice as its user; the review shows the policy before it exists.
	b.click(button("//main", "Create key"))
	b.waitText("main h2", "Configure key")
	b.click(button("//main", "Next"))
	b.waitText("main h2", "Add labels")
	b.typeInto("Alias", "console-demo")
	b.typeInto("Description", "made in the console")
	b.click(button("//main", "Add tag"))
	b.typeInto("Tag key", "team")
	b.typeInto("Tag value", "platform")
	b.click(button("//main", "Next"))
	b.waitText("main h2", "Define key administrative permissions")
	b.waitText("main", "alice")
	b.click(button("//main", "Next"))
	b.waitText("main h2", "Define key usage permissions")
	b.waitText("main", "alice")
	b.click(`//main//label[starts-with(normalize-space(), "alice")]`)
	b.click(button("//main", "Next"))
	b.waitText("main h2", "Review")
	b.waitText("#policy-preview", `"Sid": "Allow use of the key"`)
	b.waitText("#policy-preview", aliceARN)
	b.shot("create-wizard")
	b.click(button("//main", "Finish"))
	b.waitText("main h1", "alias/console-demo")
	hash := eval[string](b, `location.hash`)
	keyID := strings.TrimPrefix(hash, "#/keys/")
	md, err := root.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("the console's key %q: %v", keyID, err)
	}
	keyARN := *md.KeyMetadata.Arn
	if aws.ToString(md.KeyMetadata.Description) != "made in the console" || md.KeyMetadata.KeySpec != "SYMMETRIC_DEFAULT" {
		t.Fatalf("created key: %+v", md.KeyMetadata)
	}
	wantTags(t, root, keyID, map[string]string{"team": "platform"})
	b.waitText("main", keyARN)
	b.waitText("main table", "Allow use of the key")
	b.shot("key-detail")

	// The tabs answer the arrow keys, as a tab list should.
	b.do(chromedp.Focus(chromedp.CSS(`[role=tab][aria-selected=true]`)), chromedp.KeyEvent(kb.ArrowRight))
	b.waitText(`[role=tab][aria-selected=true]`, "Cryptographic configuration")
	b.waitText("main [role=tabpanel]", "SYMMETRIC_DEFAULT")
	if focused := eval[string](b, `document.activeElement.textContent`); focused != "Cryptographic configuration" {
		t.Errorf("after ArrowRight the focus is on %q", focused)
	}

	// A tag and a second alias from the key's own tabs.
	b.click(`//button[@role="tab"][normalize-space()="Tags"]`)
	b.waitText("main table", "platform")
	b.click(button("//main", "Add or edit tag"))
	b.typeInto("Tag key", "env")
	b.typeInto("Tag value", "test")
	b.click(button("//dialog[@open]", "Save"))
	b.waitText("main table", "env")
	wantTags(t, root, keyID, map[string]string{"team": "platform", "env": "test"})
	b.click(`//button[@role="tab"][normalize-space()="Aliases"]`)
	b.waitText("main table", "alias/console-demo")
	b.click(button("//main", "Create alias"))
	b.typeInto("Alias name", "console-second")
	b.click(button("//dialog[@open]", "Create alias"))
	b.waitText("#toasts", "Alias created")
	wantAliases(t, root, keyID, "alias/console-demo", "alias/console-second")

	// The policy editor: an invalid policy shows kmsd's own refusal, the
	// same one the SDK gets, and changes nothing; a valid one is saved.
	before, err := root.kms.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	bad := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:root"},"Action":"kms:*","Resource":"*","Condition":{"NoSuchOperator":{"kms:CallerAccount":"1"}}}]}`
	_, sdkErr := root.kms.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default"), Policy: aws.String(bad)})
	if errCode(sdkErr) != "MalformedPolicyDocumentException" {
		t.Fatalf("the SDK's PutKeyPolicy of the invalid policy: %v", sdkErr)
	}
	b.click(`//button[@role="tab"][normalize-space()="Key policy"]`)
	b.click(button("//main", "Switch to policy view"))
	b.do(chromedp.SetValue(chromedp.CSS(`textarea.policy-editor`), bad))
	b.click(button("//main", "Save changes"))
	b.waitText("#policy-error", "MalformedPolicyDocumentException")
	b.waitText("#policy-error", sdkMessage(sdkErr))
	b.shot("policy-editor-error")
	after, err := root.kms.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default")})
	if err != nil || *after.Policy != *before.Policy {
		t.Fatalf("a refused policy changed the key's policy: %v", err)
	}
	good := strings.Replace(*before.Policy, "Allow use of the key", "Allow use of the key by its users", 1)
	b.do(chromedp.SetValue(chromedp.CSS(`textarea.policy-editor`), good))
	b.click(button("//main", "Save changes"))
	b.waitText("main table", "Allow use of the key by its users")
	after, err = root.kms.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default")})
	if err != nil || !strings.Contains(*after.Policy, "Allow use of the key by its users") {
		t.Fatalf("the saved policy is not the key's: %v %v", err, aws.ToString(after.Policy))
	}

	// Rotation: enabled with a period, then rotated now.
	b.click(`//button[@role="tab"][normalize-space()="Key rotation"]`)
	b.waitText("main", "This key has not been rotated yet.")
	b.click(`//label[@for="rotation-enabled"]`)
	b.setField("Rotation period (in days)", "180")
	b.click(button("//main", "Save"))
	b.waitText("#toasts", "Rotation settings saved")
	rs, err := root.kms.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)})
	if err != nil || !rs.KeyRotationEnabled || aws.ToInt32(rs.RotationPeriodInDays) != 180 {
		t.Fatalf("rotation after the console enabled it: %+v %v", rs, err)
	}
	b.click(button("//main", "Rotate now"))
	b.waitText("main table", "ON_DEMAND")
	rots, err := root.kms.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: aws.String(keyID)})
	if err != nil || len(rots.Rotations) != 1 || rots.Rotations[0].RotationType != "ON_DEMAND" {
		t.Fatalf("rotations after Rotate now: %+v %v", rots, err)
	}

	// A grant for app, made and revoked.
	b.click(`//button[@role="tab"][normalize-space()="Grants"]`)
	b.waitText("main", "This key has no grants.")
	b.click(button("//main", "Create grant"))
	b.typeInto("Grantee principal", appARN)
	b.click(`//dialog[@open]//label[normalize-space()="Encrypt"]`)
	b.click(`//dialog[@open]//label[normalize-space()="Decrypt"]`)
	b.typeInto("Grant name (optional)", "app-grant")
	b.click(button("//dialog[@open]", "Create grant"))
	b.waitText("dialog[open]", "Grant ID")
	grantID := eval[string](b, `document.querySelector("dialog[open] .grant-id").textContent`)
	b.click(button("//dialog[@open]", "Close"))
	b.waitText("main table", grantID)
	grants, err := root.kms.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(keyID)})
	if err != nil || len(grants.Grants) != 1 || *grants.Grants[0].GrantId != grantID || *grants.Grants[0].GranteePrincipal != appARN || len(grants.Grants[0].Operations) != 2 {
		t.Fatalf("grants after the console made one: %+v %v", grants, err)
	}
	b.click(`//button[@aria-label="Revoke grant ` + grantID + `"]`)
	b.click(button("//dialog[@open]", "Revoke"))
	b.waitText("main", "This key has no grants.")
	if grants, err = root.kms.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(keyID)}); err != nil || len(grants.Grants) != 0 {
		t.Fatalf("grants after the console revoked it: %+v %v", grants, err)
	}

	// An Encrypt through the SDK shows in the key's audit tab.
	enc, err := root.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("audit me")})
	if err != nil {
		t.Fatal(err)
	}
	waitForEvent(b, "Who used this key", "Encrypt")
	b.click(`//main//summary[.//strong[normalize-space()="Encrypt"]]`)
	b.waitText("main pre", `"eventName": "Encrypt"`)
	b.waitText("main pre", keyARN)
	b.visit(p.url + "/console/#/audit?attr=EventName&value=Encrypt")
	b.waitText("main .event-name", "Encrypt")
	b.click(`//main//summary[.//strong[normalize-space()="Encrypt"]]`)
	b.waitText("main pre", `"eventSource": "kms.amazonaws.com"`)
	b.shot("audit")
	_ = enc

	// Deletion: scheduled with a 7-day wait, then canceled.
	b.visit(p.url + "/console/#/keys/" + keyID)
	b.click(button("//main", "Schedule key deletion"))
	b.setField("Waiting period (in days)", "7")
	b.click(`//label[@for="confirm-delete"]`)
	b.click(button("//dialog[@open]", "Schedule deletion"))
	b.waitText("main dl", "PendingDeletion")
	wantState(t, root, keyID, "PendingDeletion")
	b.click(button("//main", "Cancel key deletion"))
	b.waitText("main dl", "Disabled")
	wantState(t, root, keyID, "Disabled")
	b.click(button("//main", "Enable"))
	b.waitText("main dl", "Enabled")
	wantState(t, root, keyID, "Enabled")

	// The access check names the statement that decides.
	b.visit(p.url + "/console/#/access?principal=" + aliceARN + "&action=kms:Encrypt&key=" + keyARN)
	b.click(button("//main", "Check access"))
	b.waitText("main .decision", "Allowed")
	b.waitText("main .matched", "Allow use of the key by its users")
	b.shot("access")
	b.visit(p.url + "/console/#/access?principal=" + appARN + "&action=kms:Encrypt&key=" + keyARN)
	b.click(button("//main", "Check access"))
	b.waitText("main .decision", "Denied")

	b.visit(p.url + "/console/#/identities")
	b.waitText("main", "mallory")
	b.waitText("main", aliceARN)
	b.click(`//tr[td[normalize-space()="mallory"]]//button[normalize-space()="Show access keys"]`)
	b.waitText("main table", mallory.id)
	b.shot("identities")

	// The list shows each kind of key as the AWS console names it.
	for _, in := range []*kms.CreateKeyInput{
		{KeySpec: "RSA_2048", KeyUsage: "SIGN_VERIFY", Description: aws.String("release signing")},
		{KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC"},
		{MultiRegion: aws.Bool(true)},
	} {
		if _, err := root.kms.CreateKey(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	b.visit(p.url + "/console/#/keys")
	for _, col := range []string{"alias/console-demo", "alias/console-second", "Enabled", "Symmetric", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Single-Region",
		"Asymmetric", "RSA_2048", "SIGN_VERIFY", "HMAC_256", "GENERATE_VERIFY_MAC", "Multi-Region primary"} {
		b.waitText("main table", col)
	}
	if wide := eval[int](b, `Math.max(...Array.from(document.querySelectorAll(".table-wrap"), w => w.scrollWidth - w.clientWidth))`); wide > 0 {
		t.Errorf("at 1280 px the key list is %d px wider than the page", wide)
	}
	filter := chromedp.CSS(`main input[type=search]`)
	b.do(chromedp.SendKeys(filter, "RSA"))
	b.waitText("main .pager", "1 item")
	b.do(chromedp.SendKeys(filter, kb.Backspace+kb.Backspace+kb.Backspace))
	b.waitText("main .pager", "4 items")
	b.shot("keys")
	narrowFits(b)
	b.noErrors()

	// A user with no permission: every page says AccessDeniedException in
	// words, and the console keeps working.
	b.click(button("//header", "Sign out"))
	b.waitText("h1", "Sign in to kmsd")
	signInAs(b, mallory.id, mallory.secret)
	b.waitText("#who", "user/mallory")
	b.waitText("main [role=alert]", "AccessDeniedException")
	b.waitText("main [role=alert]", "is not authorized to perform: kms:ListKeys")
	b.shot("access-denied")
	b.visit(p.url + "/console/#/keys/" + keyID)
	b.waitText("main [role=alert]", "AccessDeniedException")
	b.click(`//nav//a[normalize-space()="Identities"]`)
	b.waitText("main h1", "Identities")
	b.waitText("main [role=alert]", "AccessDenied")
	b.click(`//nav//a[normalize-space()="Event history"]`)
	b.waitText("main [role=alert]", "AccessDenied")
	b.noErrors()

	// Session credentials of a role that may only read: the console lists
	// and describes keys, and says what else the role may not do.
	b.click(button("//header", "Sign out"))
	b.waitText("h1", "Sign in to kmsd")
	b.typeInto("Session token (optional)", auditor.token)
	signInAs(b, auditor.id, auditor.secret)
	b.waitText("#who", "assumed-role/Auditor/console")
	b.waitText("main [role=alert]", "cloudtrail:LookupEvents") // the page it was on
	b.click(`//nav//a[normalize-space()="Customer managed keys"]`)
	b.waitText("main table", "alias/console-demo")
	b.visit(p.url + "/console/#/keys/" + keyID)
	b.waitText("main dl", keyARN)
	b.waitText("main [role=tabpanel] [role=alert]", "AccessDeniedException")
	b.waitText("main [role=tabpanel] [role=alert]", "kms:GetKeyPolicy")
	b.click(`//button[@role="tab"][normalize-space()="Cryptographic configuration"]`)
	b.waitText("main [role=tabpanel]", "SYMMETRIC_DEFAULT")
	b.noErrors()
}

type sessionKey struct{ id, secret, token string }

// auditorSession is a session of a role that may list and describe keys
// and nothing more, assumed by a user allowed to assume it.
func auditorSession(t *testing.T, p *proc, root clients) sessionKey {
	t.Helper()
	ctx := context.Background()
	ops := newUser(t, p, root, "ops", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:user/ops"},"Action":"sts:AssumeRole"}]}`
	if _, err := root.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("Auditor"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	read := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:ListKeys","kms:ListAliases","kms:DescribeKey"],"Resource":"*"}]}`
	if _, err := root.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("Auditor"), PolicyName: aws.String("read"), PolicyDocument: aws.String(read)}); err != nil {
		t.Fatal(err)
	}
	as, err := ops.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acctA + ":role/Auditor"), RoleSessionName: aws.String("console")})
	if err != nil {
		t.Fatal(err)
	}
	return sessionKey{*as.Credentials.AccessKeyId, *as.Credentials.SecretAccessKey, *as.Credentials.SessionToken}
}

type accessKey struct{ id, secret string }

func mustAccessKey(t *testing.T, admin clients, user string) accessKey {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatal(err)
	}
	k, err := admin.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	return accessKey{*k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey}
}

func signInAs(b *browser, akid, secret string) {
	b.t.Helper()
	b.typeInto("Access key ID", akid)
	b.typeInto("Secret access key", secret)
	b.click(button("//main", "Sign in"))
}

// waitForEvent reopens a key's audit tab until the event shows: the
// trail's index follows the log's durable batches.
func waitForEvent(b *browser, tab, event string) {
	b.t.Helper()
	expr := `Array.from(document.querySelectorAll("main .event-name")).some(e => e.innerText === ` + jsString(event) + `)`
	for deadline := time.Now().Add(20 * time.Second); ; {
		b.click(`//button[@role="tab"][normalize-space()="Tags"]`)
		b.click(`//button[@role="tab"][normalize-space()=` + xpathString(tab) + `]`)
		for i := 0; i < 20; i++ {
			if eval[bool](b, expr) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %s event in the %q tab; page shows:\n%s", event, tab, b.mainText())
		}
	}
}

// narrowFits checks that a phone-width window needs no sideways scrolling.
func narrowFits(b *browser) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(400, 800))
	b.waitText("main table", "alias/console-demo")
	overflow := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`)
	if overflow > 0 {
		b.t.Errorf("at 400 px the page is %d px too wide", overflow)
	}
	b.shot("keys-narrow")
	b.do(chromedp.EmulateViewport(1280, 900))
}

func sdkMessage(err error) string {
	var ae interface{ ErrorMessage() string }
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

func wantState(t *testing.T, c clients, keyID, state string) {
	t.Helper()
	md, err := c.kms.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil || string(md.KeyMetadata.KeyState) != state {
		t.Fatalf("key state: %v %v, want %s", md, err, state)
	}
}

func wantTags(t *testing.T, c clients, keyID string, want map[string]string) {
	t.Helper()
	out, err := c.kms.ListResourceTags(context.Background(), &kms.ListResourceTagsInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range out.Tags {
		got[*tg.TagKey] = *tg.TagValue
	}
	if len(got) != len(want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("tags %v, want %v", got, want)
		}
	}
}

func wantAliases(t *testing.T, c clients, keyID string, want ...string) {
	t.Helper()
	out, err := c.kms.ListAliases(context.Background(), &kms.ListAliasesInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range out.Aliases {
		got = append(got, *a.AliasName)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("aliases %v, want %v", got, want)
	}
}
