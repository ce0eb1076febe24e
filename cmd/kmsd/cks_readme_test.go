package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cksReadme is the README's "Custom key stores" section as proposed; the
// test runs the README's own section once it has one.
const cksReadme = "### Custom key stores\n\n" +
	"kmsd serves the six custom key store operations. An `AWS_CLOUDHSM` store lives on a PKCS#11 token\n" +
	"that kmsd is configured with (`--hsm-cluster`, or `custom_key_stores.hsm_clusters` in YAML): its\n" +
	"`CloudHsmClusterId` names the token, the store's `KeyStorePassword` is the token user's PIN, and each\n" +
	"KMS key is a non-extractable AES-256 key in the token labelled with the key id. An `EXTERNAL_KEY_STORE`\n" +
	"reaches an XKS proxy over HTTPS; any kmsd is one (`--xks-uri-prefix` and its credentials). AWS's\n" +
	"`XksProxyUriEndpoint` has no port, so `--xks-proxy-connect-to ENDPOINT=URL` says where a test proxy\n" +
	"listens, and `--xks-proxy-ca` trusts a private CA. This runs both on one machine, with SoftHSM2 as the\n" +
	"HSM and a second kmsd as the proxy (`--xks-proxy-allow-http` is for `kmsd dev` only):\n\n" +
	"```sh\n" +
	"export SOFTHSM2_CONF=$PWD/softhsm2.conf; mkdir -p tokens; echo \"directories.tokendir = $PWD/tokens\" > softhsm2.conf\n" +
	"softhsm2-util --init-token --free --label kms1 --pin Kmsuser-Pin1 --so-pin 7654321\n" +
	"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=customerCA -days 365 -out customerCA.crt 2>/dev/null\n" +
	"bin/kmsd dev --data ./proxy-data --listen 127.0.0.1:8081 --xks-uri-prefix /ks1 \\\n" +
	"  --xks-access-key-id AKIAI2SFODNN7EXAMPLEXKS --xks-secret-access-key FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE &\n" +
	"bin/kmsd dev --hsm-cluster id=cluster-234567abcde,module=/usr/lib/softhsm/libsofthsm2.so,token=kms1,trust-anchor=customerCA.crt \\\n" +
	"  --xks-proxy-connect-to https://xks.example.com=http://127.0.0.1:8081 --xks-proxy-allow-http &\n" +
	"until curl -sf http://127.0.0.1:8080/healthz >/dev/null && curl -sf http://127.0.0.1:8081/healthz >/dev/null; do sleep 0.2; done\n" +
	"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY AWS_DEFAULT_REGION=us-east-1\n" +
	"kms() { aws --endpoint-url http://127.0.0.1:8080 kms \"$@\"; }\n" +
	"connected() { until [ \"$(kms describe-custom-key-stores --custom-key-store-id \"$1\" --query 'CustomKeyStores[0].ConnectionState' --output text)\" = CONNECTED ]; do sleep 0.2; done; }\n" +
	"```\n\n" +
	"An HSM-backed key: encrypt and decrypt run in the token.\n\n" +
	"```sh\n" +
	"hsm=$(kms create-custom-key-store --custom-key-store-name hsm1 --cloud-hsm-cluster-id cluster-234567abcde \\\n" +
	"  --trust-anchor-certificate file://customerCA.crt --key-store-password Kmsuser-Pin1 --query CustomKeyStoreId --output text)\n" +
	"kms connect-custom-key-store --custom-key-store-id \"$hsm\" && connected \"$hsm\"\n" +
	"key=$(kms create-key --custom-key-store-id \"$hsm\" --origin AWS_CLOUDHSM --query KeyMetadata.KeyId --output text)\n" +
	"kms encrypt --key-id \"$key\" --plaintext fileb://<(printf 'hello, token') --query CiphertextBlob --output text | base64 -d > hsm.enc\n" +
	"kms decrypt --ciphertext-blob fileb://hsm.enc --query Plaintext --output text | base64 -d; echo   # hello, token\n" +
	"```\n\n" +
	"A key held outside: the second kmsd's key is the external key, and every encryption goes through it.\n\n" +
	"```sh\n" +
	"ext=$(aws --endpoint-url http://127.0.0.1:8081 kms create-key --query KeyMetadata.KeyId --output text)\n" +
	"xks=$(kms create-custom-key-store --query CustomKeyStoreId --output text --cli-input-json '{\"CustomKeyStoreName\": \"xks1\",\n" +
	"  \"CustomKeyStoreType\": \"EXTERNAL_KEY_STORE\", \"XksProxyConnectivity\": \"PUBLIC_ENDPOINT\",\n" +
	"  \"XksProxyUriEndpoint\": \"https://xks.example.com\", \"XksProxyUriPath\": \"/ks1/kms/xks/v1\",\n" +
	"  \"XksProxyAuthenticationCredential\": {\"AccessKeyId\": \"AKIAI2SFODNN7EXAMPLEXKS\",\n" +
	"    \"RawSecretAccessKey\": \"FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE\"}}')\n" +
	"kms connect-custom-key-store --custom-key-store-id \"$xks\" && connected \"$xks\"\n" +
	"key=$(kms create-key --custom-key-store-id \"$xks\" --origin EXTERNAL_KEY_STORE --xks-key-id \"$ext\" --query KeyMetadata.KeyId --output text)\n" +
	"kms encrypt --key-id \"$key\" --plaintext fileb://<(printf 'hello, proxy') --query CiphertextBlob --output text | base64 -d > xks.enc\n" +
	"kms decrypt --ciphertext-blob fileb://xks.enc --query Plaintext --output text | base64 -d; echo   # hello, proxy\n" +
	"```\n\n" +
	"Disconnecting a store makes its keys `Unavailable` (`KMSInvalidStateException` on use); a wrong PIN or\n" +
	"a token that is gone leaves it `FAILED` with `INVALID_CREDENTIALS` or `CLUSTER_NOT_FOUND`; disabling the\n" +
	"external key in the proxy kmsd answers `KMSInvalidStateException` with AWS's message. The PIN and the\n" +
	"proxy secret are sealed under the root key and appear in no answer, log or audit record.\n"

// TestReadmeCustomKeyStores runs the section's commands as written, with
// the ports and the binary pointed at the test's, in a fresh directory.
func TestReadmeCustomKeyStores(t *testing.T) {
	sec := cksReadme
	if readme, err := os.ReadFile("../../README.md"); err == nil {
		if _, s, ok := strings.Cut(string(readme), "\n### Custom key stores\n"); ok {
			sec = s
			if i := regexp.MustCompile(`\n##+ `).FindStringIndex(sec); i != nil {
				sec = sec[:i[0]]
			}
		}
	}
	var script strings.Builder
	for _, b := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		script.WriteString(b[1])
	}
	kmsPort, proxyPort := portOf(freeAddr(t)), portOf(freeAddr(t))
	run := strings.NewReplacer("bin/kmsd", kmsdBin, "127.0.0.1:8081", "127.0.0.1:"+proxyPort,
		"127.0.0.1:8080", "127.0.0.1:"+kmsPort).Replace(script.String())
	// The second kmsd listens on its own port; the first on the default one.
	run = strings.Replace(run, "--hsm-cluster", "--listen 127.0.0.1:"+kmsPort+" --hsm-cluster", 1)
	dir := t.TempDir()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n"+run)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the section's commands did not finish:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "hello, token\n") || !strings.Contains(string(out), "hello, proxy\n") {
		t.Fatalf("the section's commands: %v\n%s", err, out)
	}
	// The PIN and the proxy secret are in no answer or log line, and
	// nowhere in the KMS side's data directory (sealed in its store).
	secrets := []string{"Kmsuser-Pin1", "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"}
	script.Reset()
	script.Write(out)
	err = filepath.WalkDir(filepath.Join(dir, "kmsd-data"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, rerr := os.ReadFile(path)
			script.Write(b)
			err = rerr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(script.String(), s) {
			t.Errorf("%q appears in the output or in kmsd-data", s)
		}
	}
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
