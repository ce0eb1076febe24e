package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/kmsd/kmsd/internal/seal"
)

// SealConfig says what protects the root keyring file in the data
// directory: nothing (file, a plaintext file readable by kmsd's user
// only), a non-extractable key in a PKCS#11 token, or a KMS key at an AWS
// KMS endpoint. In YAML, "seal: awskms" with the rest in flags or
// KMSD_SEAL_* variables, or the whole section:
//
//	seal:
//	  type: awskms
//	  awskms: {key_id: arn:aws:kms:..., endpoint: https://..., region: eu-west-1}
//	  pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, token: kmsd, key_label: kmsd-root-keyring, pin_file: /etc/kmsd/pin}
type SealConfig struct {
	Type   string           `yaml:"type,omitempty"`
	PKCS11 PKCS11SealConfig `yaml:"pkcs11,omitempty"`
	AWSKMS AWSKMSSealConfig `yaml:"awskms,omitempty"`

	// pin is KMSD_SEAL_PKCS11_PIN; unexported so that it is never printed.
	pin string
}

// PKCS11SealConfig names the token and the key that wrap the keyring. The
// PIN comes from KMSD_SEAL_PKCS11_PIN or PinFile, never a flag's value.
type PKCS11SealConfig struct {
	Module   string `yaml:"module,omitempty"`
	Token    string `yaml:"token,omitempty"`
	KeyLabel string `yaml:"key_label,omitempty"`
	PinFile  string `yaml:"pin_file,omitempty"`
}

// AWSKMSSealConfig names the KMS key that wraps the keyring and where it
// is; credentials come from the AWS SDK's default chain.
type AWSKMSSealConfig struct {
	KeyID    string `yaml:"key_id,omitempty"`
	Endpoint string `yaml:"endpoint,omitempty"`
	Region   string `yaml:"region,omitempty"`
}

// A scalarSetter is a settings section that a single value also sets, as
// in "seal: pkcs11" for "seal: {type: pkcs11}".
type scalarSetter interface{ setScalar(string) error }

var scalarSetterType = reflect.TypeFor[scalarSetter]()

func (s *SealConfig) setScalar(v string) error {
	s.Type = v
	return nil
}

// defaultKeyLabel is the token object that wraps the keyring by default.
const defaultKeyLabel = "kmsd-root-keyring"

func (s *SealConfig) kind() string {
	if s.Type == "" {
		return "file"
	}
	return s.Type
}

// loadEnv overlays the KMSD_SEAL_* variables.
func (s *SealConfig) loadEnv(getenv func(string) string) error {
	for name, dst := range map[string]*string{
		"KMSD_SEAL":                  &s.Type,
		"KMSD_SEAL_PKCS11_MODULE":    &s.PKCS11.Module,
		"KMSD_SEAL_PKCS11_TOKEN":     &s.PKCS11.Token,
		"KMSD_SEAL_PKCS11_KEY_LABEL": &s.PKCS11.KeyLabel,
		"KMSD_SEAL_PKCS11_PIN_FILE":  &s.PKCS11.PinFile,
		"KMSD_SEAL_PKCS11_PIN":       &s.pin,
		"KMSD_SEAL_AWSKMS_KEY_ID":    &s.AWSKMS.KeyID,
		"KMSD_SEAL_AWSKMS_ENDPOINT":  &s.AWSKMS.Endpoint,
		"KMSD_SEAL_AWSKMS_REGION":    &s.AWSKMS.Region,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	return nil
}

// bindFlags registers the --seal flags on fs.
func (s *SealConfig) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.Type, "seal", s.Type, "what protects the root keyring: file (a plaintext file, mode 0600), pkcs11 (wrapped by a key in a PKCS#11 token) or awskms (wrapped by a KMS key), e.g. --seal awskms (env KMSD_SEAL)")
	fs.StringVar(&s.PKCS11.Module, "seal-pkcs11-module", s.PKCS11.Module, "seal pkcs11: the PKCS#11 module's absolute path, e.g. --seal-pkcs11-module /usr/lib/softhsm/libsofthsm2.so")
	fs.StringVar(&s.PKCS11.Token, "seal-pkcs11-token", s.PKCS11.Token, "seal pkcs11: the token's label, e.g. --seal-pkcs11-token kmsd")
	fs.StringVar(&s.PKCS11.KeyLabel, "seal-pkcs11-key-label", s.PKCS11.KeyLabel, "seal pkcs11: the label of the token's AES key that wraps the keyring, made when absent (default "+defaultKeyLabel+"), e.g. --seal-pkcs11-key-label kmsd-root-keyring")
	fs.StringVar(&s.PKCS11.PinFile, "seal-pkcs11-pin-file", s.PKCS11.PinFile, "seal pkcs11: a file holding the token user's PIN (or set KMSD_SEAL_PKCS11_PIN), e.g. --seal-pkcs11-pin-file /etc/kmsd/pkcs11.pin")
	fs.StringVar(&s.AWSKMS.KeyID, "seal-awskms-key-id", s.AWSKMS.KeyID, "seal awskms: the wrapping KMS key's id, ARN or alias, e.g. --seal-awskms-key-id arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	fs.StringVar(&s.AWSKMS.Endpoint, "seal-awskms-endpoint", s.AWSKMS.Endpoint, "seal awskms: the KMS endpoint URL (default: AWS KMS in the Region), e.g. --seal-awskms-endpoint https://kms.internal:8443")
	fs.StringVar(&s.AWSKMS.Region, "seal-awskms-region", s.AWSKMS.Region, "seal awskms: the KMS key's Region (default: AWS_REGION or the AWS profile's), e.g. --seal-awskms-region eu-west-1")
}

// validateSeal checks the seal settings and that the data directory can
// use them.
func (c *Config) validateSeal() error {
	s := &c.Seal
	switch s.kind() {
	case "file":
		return nil
	case "awskms":
		if s.AWSKMS.KeyID == "" {
			return errors.New("seal awskms needs the wrapping key: give --seal-awskms-key-id (KMSD_SEAL_AWSKMS_KEY_ID, seal.awskms.key_id)")
		}
	case "pkcs11":
		if s.PKCS11.Module == "" || s.PKCS11.Token == "" {
			return errors.New("seal pkcs11 needs the token: give --seal-pkcs11-module and --seal-pkcs11-token (seal.pkcs11.module and token in the config file)")
		}
		if !filepath.IsAbs(s.PKCS11.Module) {
			return fmt.Errorf("seal pkcs11: give the module's absolute path (--seal-pkcs11-module %s names no file by itself; the loader would search for it)", s.PKCS11.Module)
		}
		if s.pin == "" && s.PKCS11.PinFile == "" {
			return errors.New("seal pkcs11 needs the token user's PIN: set KMSD_SEAL_PKCS11_PIN or give --seal-pkcs11-pin-file")
		}
	default:
		return fmt.Errorf("seal %q is not file, pkcs11 or awskms (--seal, KMSD_SEAL, seal.type)", s.Type)
	}
	switch {
	case c.ephemeral():
		return fmt.Errorf("an ephemeral server keeps its root keyring in memory: leave out --seal %s", s.kind())
	case c.Store != "":
		return fmt.Errorf("seal %s is not available yet for a cluster node (--store): each node keeps a plaintext root keyring in its --data", s.kind())
	}
	return nil
}

// protector returns what wraps the keyring under this seal; nil for file.
// close releases it (the token session) once the keyring is no longer used.
func (s *SealConfig) protector(ctx context.Context) (p seal.Protector, close func(), err error) {
	nothing := func() {}
	switch s.kind() {
	case "file":
		return nil, nothing, nil
	case "awskms":
		p, err := seal.NewAWSKMS(ctx, seal.AWSKMSConfig{KeyID: s.AWSKMS.KeyID, Endpoint: s.AWSKMS.Endpoint, Region: s.AWSKMS.Region})
		return p, nothing, err
	case "pkcs11":
		pin, err := s.readPIN()
		if err != nil {
			return nil, nothing, err
		}
		return openPKCS11Seal(s.PKCS11, pin)
	}
	return nil, nothing, fmt.Errorf("seal %q is not file, pkcs11 or awskms", s.Type)
}

// readPIN returns the token PIN from KMSD_SEAL_PKCS11_PIN or the PIN file.
func (s *SealConfig) readPIN() (string, error) {
	if s.pin != "" {
		return s.pin, nil
	}
	if s.PKCS11.PinFile == "" {
		return "", errors.New("seal pkcs11 needs the token user's PIN: set KMSD_SEAL_PKCS11_PIN or give --seal-pkcs11-pin-file")
	}
	b, err := os.ReadFile(s.PKCS11.PinFile)
	if err != nil {
		return "", fmt.Errorf("seal pkcs11: read the PIN file: %w", err)
	}
	pin := strings.TrimRight(string(b), "\r\n")
	clear(b)
	if pin == "" {
		return "", fmt.Errorf("seal pkcs11: the PIN file %s is empty", s.PKCS11.PinFile)
	}
	return pin, nil
}
