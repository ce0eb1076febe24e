package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/quota"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// Two accounts, each with its own access key, so one account's quota can
// be shown not to throttle the other.
const (
	accountA = "111122223333"
	accountB = "444455556666"
	akidA    = "AKIDQUOTAACCOUNTAAAA"
	akidB    = "AKIDQUOTAACCOUNTBBBB"
)

type twoAccounts struct{}

func (twoAccounts) SigningSecret(_ context.Context, akid string) (sigv4.Secret, error) {
	if akid != akidA && akid != akidB {
		return sigv4.Secret{}, sigv4.ErrUnknownAccessKey
	}
	return sigv4.Secret{Key: secret.Bytes("secret-of-" + akid)}, nil
}

func (twoAccounts) Principal(_ context.Context, akid string) (kmscore.Caller, error) {
	switch akid {
	case akidA:
		return kmscore.RootCaller(accountA, ""), nil
	case akidB:
		return kmscore.RootCaller(accountB, ""), nil
	}
	return kmscore.Caller{}, errors.New("unknown access key")
}

// eventLog keeps the audit records of a test server.
type eventLog struct {
	mu     sync.Mutex
	events []*audit.Event
}

func (l *eventLog) Append(ev *audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	return nil
}

// count returns how many records there are, and how many say code.
func (l *eventLog) count(code string) (all, withCode int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		if ev.ErrorCode == code {
			withCode++
			if code == "ThrottlingException" && ev.ErrorMessage != "Rate exceeded" {
				panic("throttled record with message " + ev.ErrorMessage)
			}
		}
	}
	return len(l.events), withCode
}

type quotaServer struct {
	url   string
	audit *eventLog
}

// startQuotaServer serves two accounts with SigV4 verified, under the quota
// setting spec ("" for none) and a pool of expensive work of poolSize slots
// (0: the default).
func startQuotaServer(t *testing.T, spec string, poolSize int) *quotaServer {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.AccountOwner{}, ExpensiveWork: poolSize}
	if spec != "" {
		rates, err := quota.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Limiter = quota.New(rates)
	}
	svc, err := kmscore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	srv, err := api.New(api.Config{Service: svc, Audit: log, Auth: api.Strict{
		Verifier: &sigv4.Verifier{Credentials: twoAccounts{}}, Principals: twoAccounts{},
	}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &quotaServer{url: hs.URL, audit: log}
}

// client is an SDK client of account akid in region with retries off, as
// a test needs to see each answer.
func (s *quotaServer) client(akid, region string) *kms.Client {
	return newClient(s.url, region, akid, "secret-of-"+akid)
}

// retryingClient is an SDK client with the SDK's default retryer.
func (s *quotaServer) retryingClient(akid, region string) *kms.Client {
	return kms.New(kms.Options{
		Region: region, BaseEndpoint: aws.String(s.url),
		Credentials: credentials.NewStaticCredentialsProvider(akid, "secret-of-"+akid, ""),
	})
}

// throttled reports whether err is AWS's ThrottlingException: HTTP 400,
// message "Rate exceeded".
func throttled(t *testing.T, err error) bool {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		return false
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest || ae.ErrorMessage() != "Rate exceeded" {
		t.Fatalf("throttled with %v, want HTTP 400 and message \"Rate exceeded\"", err)
	}
	return true
}

func mustKey(t *testing.T, c *kms.Client, in *kms.CreateKeyInput) string {
	t.Helper()
	out, err := c.CreateKey(bg, in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

// TestManagementQuotaThrottles: a burst of CreateKey above AWS's 5 per
// second is answered ThrottlingException, every answer has one audit
// record, and other operations keep their own quotas.
func TestManagementQuotaThrottles(t *testing.T) {
	s := startQuotaServer(t, "aws", 0)
	c := s.client(akidA, testRegion)
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() { _, errs[i] = c.CreateKey(bg, &kms.CreateKeyInput{}) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	ok, limited := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case throttled(t, err):
			limited++
		default:
			t.Fatalf("CreateKey: %v", err)
		}
	}
	if limited == 0 || float64(ok) > 5+5*elapsed.Seconds()+1 {
		t.Fatalf("%d of %d CreateKey in %v succeeded, %d throttled; AWS allows 5 per second", ok, n, elapsed, limited)
	}
	all, throttledRecords := s.audit.count("ThrottlingException")
	if all != n || throttledRecords != limited {
		t.Fatalf("%d audit records, %d throttled, for %d requests of which %d were throttled", all, throttledRecords, n, limited)
	}
	// ListKeys has its own quota.
	keys, err := c.ListKeys(bg, &kms.ListKeysInput{})
	if err != nil || len(keys.Keys) != ok {
		t.Fatalf("ListKeys: %v, %d keys for %d successful CreateKey", err, len(keys.Keys), ok)
	}
}

// TestCryptographicQuotaByKeyType: the shared cryptographic quota is taken
// by the type of key used (GenerateMac and GenerateRandom count as
// symmetric, RSA keys have their own), per account and per Region.
func TestCryptographicQuotaByKeyType(t *testing.T) {
	s := startQuotaServer(t, "off,symmetric=0.2,rsa=0.2", 0)
	a := s.client(akidA, testRegion)
	sym := mustKey(t, a, &kms.CreateKeyInput{})
	hmacKey := mustKey(t, a, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	rsaKey := mustKey(t, a, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	encrypt := func(c *kms.Client, key string, alg types.EncryptionAlgorithmSpec) error {
		_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x"), EncryptionAlgorithm: alg})
		return err
	}
	if err := encrypt(a, sym, ""); err != nil {
		t.Fatalf("first Encrypt: %v", err)
	}
	if err := encrypt(a, sym, ""); !throttled(t, err) {
		t.Fatalf("second symmetric Encrypt within 5 s: %v, want ThrottlingException", err)
	}
	if _, err := a.GenerateMac(bg, &kms.GenerateMacInput{KeyId: aws.String(hmacKey), Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256}); !throttled(t, err) {
		t.Fatalf("GenerateMac after the symmetric quota was spent: %v, want ThrottlingException", err)
	}
	if _, err := a.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(8)}); !throttled(t, err) {
		t.Fatalf("GenerateRandom after the symmetric quota was spent: %v, want ThrottlingException", err)
	}
	if err := encrypt(a, rsaKey, types.EncryptionAlgorithmSpecRsaesOaepSha256); err != nil {
		t.Fatalf("RSA Encrypt while the symmetric quota is spent: %v", err)
	}
	if err := encrypt(a, rsaKey, types.EncryptionAlgorithmSpecRsaesOaepSha256); !throttled(t, err) {
		t.Fatalf("second RSA Encrypt within 5 s: %v, want ThrottlingException", err)
	}
	if _, err := a.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(sym)}); err != nil {
		t.Fatalf("DescribeKey, not a cryptographic operation: %v", err)
	}

	// Another account, and the same account in another Region, have
	// quotas of their own.
	b := s.client(akidB, testRegion)
	if err := encrypt(b, mustKey(t, b, &kms.CreateKeyInput{}), ""); err != nil {
		t.Fatalf("account B, after account A spent its quota: %v", err)
	}
	west := s.client(akidA, otherRegion)
	if err := encrypt(west, mustKey(t, west, &kms.CreateKeyInput{}), ""); err != nil {
		t.Fatalf("account A in %s, after spending its quota in %s: %v", otherRegion, testRegion, err)
	}
	all, limited := s.audit.count("ThrottlingException")
	if limited != 4 || all != 14 {
		t.Fatalf("%d audit records with %d throttled, want 14 with 4", all, limited)
	}
}

// TestDataKeyPairQuotaBySpec: GenerateDataKeyPair draws from a quota per
// pair spec, not from the symmetric quota of its wrapping key.
func TestDataKeyPairQuotaBySpec(t *testing.T) {
	s := startQuotaServer(t, "off,symmetric=0.2,GenerateDataKeyPair/ECC_NIST_P256=0.2", 0)
	c := s.client(akidA, testRegion)
	key := mustKey(t, c, &kms.CreateKeyInput{})
	pair := func(spec types.DataKeyPairSpec) error {
		_, err := c.GenerateDataKeyPairWithoutPlaintext(bg, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: aws.String(key), KeyPairSpec: spec})
		return err
	}
	if err := pair(types.DataKeyPairSpecEccNistP256); err != nil {
		t.Fatal(err)
	}
	if err := pair(types.DataKeyPairSpecEccNistP256); !throttled(t, err) {
		t.Fatalf("second P-256 pair within 5 s: %v, want ThrottlingException", err)
	}
	if err := pair(types.DataKeyPairSpecEccNistP384); err != nil {
		t.Fatalf("P-384 pair: %v", err)
	}
	if _, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt after key pairs under the key: %v (pairs must not spend the symmetric quota)", err)
	}
}

// TestDefaultRetryerGetsThrough: an application with the SDK's default
// retryer gets every call through a quota it keeps exceeding; the audit
// log shows the throttled attempts it retried.
func TestDefaultRetryerGetsThrough(t *testing.T) {
	s := startQuotaServer(t, "off,symmetric=10", 0)
	plain := s.client(akidA, testRegion)
	key := mustKey(t, plain, &kms.CreateKeyInput{})
	for i := 0; ; i++ {
		_, err := plain.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
		if throttled(t, err) {
			break
		}
		if err != nil || i > 100 {
			t.Fatalf("Encrypt %d: %v (never throttled)", i, err)
		}
	}
	_, before := s.audit.count("ThrottlingException")
	c := s.retryingClient(akidA, testRegion)
	attempts := 0
	for i := range 25 {
		out, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
		if err != nil {
			t.Fatalf("Encrypt %d with the default retryer: %v", i, err)
		}
		if r, ok := retry.GetAttemptResults(out.ResultMetadata); ok {
			attempts += len(r.Results)
		}
	}
	_, after := s.audit.count("ThrottlingException")
	if after == before || attempts <= 25 {
		t.Fatalf("25 calls over a 10 per second quota took %d attempts and %d throttled records: the retryer was never needed", attempts, after-before)
	}
}
