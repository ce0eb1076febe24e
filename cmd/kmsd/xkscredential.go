package main

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/xksproxy"
)

const xksCredentialHelp = `kmsd admin xks-credential — make a credential for the XKS Proxy API

Usage:
  kmsd admin xks-credential [--uri-prefix PREFIX] [--out FILE] [--secret-out FILE]

Makes a random access key id (24 characters A-Z, 2-7) and secret access key
(44 characters of Base64, 256 bits), and writes the proxy configuration file
the AWS KMS console accepts when creating or updating an external key store
(XksProxyUriPath and XksProxyAuthenticationCredential), to stdout or --out.
The secret alone goes to --secret-out, for kmsd's secret_access_key_file.
Both files are created with mode 0600 and never overwritten. Nothing is
stored: add the credential to kmsd's xks.credentials and restart it.

Flags:
`

const xksCredentialExamples = `
Examples:
  kmsd admin xks-credential --uri-prefix /tenant-a --out xks-proxy.json --secret-out /etc/kmsd/xks-2
  kmsd admin xks-credential > proxy-config.json
`

// xksProxyFile is the proxy configuration file of the specification's
// "XKS proxy configuration in AWS KMS console".
type xksProxyFile struct {
	XksProxyUriPath                  string `json:"XksProxyUriPath"`
	XksProxyAuthenticationCredential struct {
		AccessKeyId        string `json:"AccessKeyId"`
		RawSecretAccessKey string `json:"RawSecretAccessKey"`
	} `json:"XksProxyAuthenticationCredential"`
}

func runXKSCredential(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kmsd admin xks-credential", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("uri-prefix", "", "path before /kms/xks/v1, as --xks-uri-prefix gives it to kmsd, e.g. --uri-prefix /tenant-a")
	out := fs.String("out", "", "write the AWS KMS console's proxy configuration file here instead of stdout, e.g. --out xks-proxy.json")
	secretOut := fs.String("secret-out", "", "also write the secret alone here, for secret_access_key_file, e.g. --secret-out /etc/kmsd/xks-2")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), xksCredentialHelp)
		fs.VisitAll(func(f *flag.Flag) {
			arg := "FILE"
			if f.Name == "uri-prefix" {
				arg = "PREFIX"
			}
			fmt.Fprintf(fs.Output(), "  --%s %s\n        %s\n", f.Name, arg, f.Usage)
		})
		fmt.Fprint(fs.Output(), xksCredentialExamples)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	id := make([]byte, 15)
	key := make([]byte, 32)
	_, _ = rand.Read(id) // crypto/rand.Read never fails
	_, _ = rand.Read(key)
	cred := xksproxy.Credential{
		AccessKeyID: base32.StdEncoding.EncodeToString(id),
		Secret:      secret.Bytes(base64.StdEncoding.EncodeToString(key)),
	}
	clear(key)
	x := xksConfig{URIPrefix: *prefix}
	if err := x.validatePrefix(); err != nil {
		return err
	}
	if err := xksproxy.ValidateCredential(cred); err != nil {
		return err // cannot happen: the encodings fit the rules
	}
	var f xksProxyFile
	f.XksProxyUriPath = x.prefix() + xksAPIPath
	f.XksProxyAuthenticationCredential.AccessKeyId = cred.AccessKeyID
	f.XksProxyAuthenticationCredential.RawSecretAccessKey = string(cred.Secret)
	doc, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	doc = append(doc, '\n')
	if *secretOut != "" {
		if err := writeNew(*secretOut, append([]byte(cred.Secret), '\n')); err != nil {
			return err
		}
	}
	if *out == "" {
		_, err = stdout.Write(doc)
	} else {
		err = writeNew(*out, doc)
	}
	if err != nil {
		return err
	}
	secretFile := *secretOut
	if secretFile == "" {
		secretFile = "FILE-HOLDING-THE-SECRET"
	}
	fmt.Fprintf(stderr, `made XKS credential %s. Next:
  1. add it to kmsd.yaml and restart kmsd (keep the old one while AWS KMS switches over):
       xks:
         uri_prefix: %s
         credentials:
           - access_key_id: %s
             secret_access_key_file: %s
  2. give the proxy configuration file to AWS KMS (console: "Upload proxy configuration file"),
     or aws kms update-custom-key-store --xks-proxy-authentication-credential AccessKeyId=...,RawSecretAccessKey=...
`, cred.AccessKeyID, x.prefix(), cred.AccessKeyID, secretFile)
	return nil
}

// writeNew writes a new file readable by its owner only; an existing file
// is never replaced.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
