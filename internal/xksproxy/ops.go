package xksproxy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/kmsd/kmsd/internal/kms"
)

// operation is one XKS API, as the route table knows it.
type operation struct {
	event string // the audit record's eventName
	// required lists the requestMetadata members the specification marks
	// REQUIRED for it.
	required []string
	// authorized: subject to the allow lists (all but GetHealthStatus).
	authorized bool
	run        func(h *Handler, ctx context.Context, c *call, req *request) (any, *xksError)
}

// lookupOperation is the route table: "health", or the last part of a
// key's path.
func lookupOperation(name string) (operation, bool) {
	switch name {
	case "health":
		return operation{event: "XksGetHealthStatus", run: (*Handler).health,
			required: []string{"kmsRequestId", "kmsOperation"}}, true
	case "metadata":
		return operation{event: "XksGetKeyMetadata", authorized: true, run: (*Handler).metadata,
			required: []string{"awsPrincipalArn", "kmsOperation", "kmsRequestId"}}, true
	case "encrypt":
		return operation{event: "XksEncrypt", authorized: true, run: (*Handler).encrypt,
			required: []string{"awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"}}, true
	case "decrypt":
		return operation{event: "XksDecrypt", authorized: true, run: (*Handler).decrypt,
			required: []string{"awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"}}, true
	}
	return operation{}, false
}

// request holds every member of the four requests. requestMetadata stays
// free-form: the specification lets KMS add members to it.
type request struct {
	Metadata      map[string]any `json:"requestMetadata"`
	Plaintext     *string        `json:"plaintext"`
	Ciphertext    *string        `json:"ciphertext"`
	CipherMeta    *string        `json:"ciphertextMetadata"`
	AAD           *string        `json:"additionalAuthenticatedData"`
	IV            *string        `json:"initializationVector"`
	Tag           *string        `json:"authenticationTag"`
	Algorithm     *string        `json:"encryptionAlgorithm"`
	CDIVAlgorithm *string        `json:"ciphertextDataIntegrityValueAlgorithm"`
}

// Sizes beyond the specification's minimums (4300 bytes of data, 8192 of
// AAD); larger values are UnsupportedOperationException, as it says.
const (
	maxData = 16 << 10
	maxAAD  = 32 << 10
)

func decodeRequest(body []byte) (*request, *xksError) {
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fail(errValidation, "The request body is not a JSON object of the XKS Proxy API.")
	}
	if req.Metadata == nil {
		return nil, fail(errValidation, "requestMetadata is required.")
	}
	return &req, nil
}

func checkMetadata(md map[string]any, required []string) *xksError {
	for _, name := range required {
		if s, ok := md[name].(string); !ok || s == "" {
			return fail(errValidation, "requestMetadata.%s is required and must be a string.", name)
		}
	}
	return nil
}

// metadataString reads a requestMetadata member from a call's audit
// parameters.
func metadataString(params map[string]any, name string) (string, bool) {
	md, _ := params["requestMetadata"].(map[string]any)
	s, ok := md[name].(string)
	return s, ok
}

// authorize applies the optional allow lists to the request's metadata.
func (h *Handler) authorize(md map[string]any, op operation) *xksError {
	if p, _ := md["awsPrincipalArn"].(string); len(h.cfg.AllowedPrincipals) > 0 && !matchAny(h.cfg.AllowedPrincipals, p) {
		return fail(errAccessDenied, "Principal %s is not allowed to use this external key store proxy.", p)
	}
	// GetKeyMetadata during CreateKey names no KMS key yet.
	if k, ok := md["kmsKeyArn"].(string); ok && len(h.cfg.AllowedKeyARNs) > 0 && !matchAny(h.cfg.AllowedKeyARNs, k) {
		return fail(errAccessDenied, "KMS key %s is not allowed to use this external key store proxy.", k)
	}
	return nil
}

// matchAny reports whether s is one of the patterns: an exact value or a
// prefix followed by "*".
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(s, prefix) || p == s {
			return true
		}
	}
	return false
}

// b64 decodes an optional Base64 member; a missing required one is
// ValidationException, an oversized one UnsupportedOperationException.
func b64(name string, v *string, required bool, max int) ([]byte, *xksError) {
	if v == nil {
		if required {
			return nil, fail(errValidation, "%s is required.", name)
		}
		return nil, nil
	}
	if base64.StdEncoding.DecodedLen(len(*v)) > max+2 {
		return nil, fail(errUnsupported, "%s is longer than %d bytes, the most this proxy supports.", name, max)
	}
	b, err := base64.StdEncoding.DecodeString(*v)
	if err != nil {
		return nil, fail(errValidation, "%s is not valid Base64.", name)
	}
	if len(b) > max {
		return nil, fail(errUnsupported, "%s is longer than %d bytes, the most this proxy supports.", name, max)
	}
	return b, nil
}

func checkAlgorithm(req *request) *xksError {
	switch {
	case req.Algorithm == nil:
		return fail(errValidation, "encryptionAlgorithm is required.")
	case *req.Algorithm != "AES_GCM":
		return fail(errValidation, "encryptionAlgorithm must be AES_GCM.")
	}
	return nil
}

// enc is the specification's Base64: standard, padded (RFC 4648 section 4).
func enc() *base64.Encoding { return base64.StdEncoding }

func (h *Handler) metadata(ctx context.Context, c *call, _ *request) (any, *xksError) {
	k, err := h.cfg.Backend.XKSKeyMetadata(ctx, &c.kms, c.keyID)
	if err != nil {
		return nil, fromKMS(err)
	}
	status := "DISABLED"
	if k.Enabled {
		status = "ENABLED"
	}
	c.elements = map[string]any{"keySpec": "AES_256", "keyUsage": []string{"ENCRYPT", "DECRYPT"}, "keyStatus": status}
	return c.elements, nil
}

type encryptResponse struct {
	Ciphertext         string `json:"ciphertext"`
	CiphertextMetadata string `json:"ciphertextMetadata,omitempty"`
	IV                 string `json:"initializationVector"`
	Tag                string `json:"authenticationTag"`
	CDIV               string `json:"ciphertextDataIntegrityValue,omitempty"`
}

func (h *Handler) encrypt(ctx context.Context, c *call, req *request) (any, *xksError) {
	if e := checkAlgorithm(req); e != nil {
		return nil, e
	}
	c.params["encryptionAlgorithm"] = *req.Algorithm
	if req.CDIVAlgorithm != nil {
		if *req.CDIVAlgorithm != "SHA_256" {
			return nil, fail(errValidation, "ciphertextDataIntegrityValueAlgorithm must be SHA_256.")
		}
		c.params["ciphertextDataIntegrityValueAlgorithm"] = *req.CDIVAlgorithm
	}
	aad, e := b64("additionalAuthenticatedData", req.AAD, false, maxAAD)
	if e != nil {
		return nil, e
	}
	pt, e := b64("plaintext", req.Plaintext, true, maxData)
	if e != nil {
		return nil, e
	}
	defer clear(pt)
	out, err := h.cfg.Backend.XKSEncrypt(ctx, &c.kms, c.keyID, pt, aad)
	if err != nil {
		return nil, fromKMS(err)
	}
	c.extra = map[string]any{"keyMaterialId": out.KeyMaterialID}
	resp := &encryptResponse{
		Ciphertext: enc().EncodeToString(out.Ciphertext), CiphertextMetadata: enc().EncodeToString(out.Metadata),
		IV: enc().EncodeToString(out.IV), Tag: enc().EncodeToString(out.Tag),
	}
	if req.CDIVAlgorithm == nil {
		return resp, nil
	}
	// Appendix C: hash what is returned first, then prove it decrypts to
	// the plaintext given, so a corruption after the hash cannot pass.
	resp.CDIV = enc().EncodeToString(cdiv(aad, out.Metadata, out.IV, out.Ciphertext, out.Tag))
	check := &kms.XKSCiphertext{Ciphertext: out.Ciphertext, IV: out.IV, Tag: out.Tag, Metadata: out.Metadata}
	if err := h.cfg.Backend.XKSVerify(ctx, &kms.Call{Caller: c.kms.Caller}, c.keyID, check, aad, pt); err != nil {
		return nil, &xksError{name: errInternal, message: "An internal error occurred.", cause: err}
	}
	return resp, nil
}

// cdiv is the Ciphertext Data Integrity Value of Appendix C: SHA-256 over
// aad | metadata | iv | ciphertext | tag.
func cdiv(aad, meta, iv, ct, tag []byte) []byte {
	sum := sha256.New()
	for _, part := range [][]byte{aad, meta, iv, ct, tag} {
		sum.Write(part)
	}
	return sum.Sum(nil)
}

func (h *Handler) decrypt(ctx context.Context, c *call, req *request) (any, *xksError) {
	if e := checkAlgorithm(req); e != nil {
		return nil, e
	}
	c.params["encryptionAlgorithm"] = *req.Algorithm
	aad, e := b64("additionalAuthenticatedData", req.AAD, false, maxAAD)
	if e != nil {
		return nil, e
	}
	var in kms.XKSCiphertext
	if in.Ciphertext, e = b64("ciphertext", req.Ciphertext, true, maxData); e != nil {
		return nil, e
	}
	if in.IV, e = b64("initializationVector", req.IV, true, 16); e != nil || (len(in.IV) != 12 && len(in.IV) != 16) {
		return nil, orValidation(e, "initializationVector must be 12 or 16 bytes.")
	}
	if in.Tag, e = b64("authenticationTag", req.Tag, true, 16); e != nil || len(in.Tag) != 16 {
		return nil, orValidation(e, "authenticationTag must be 16 bytes.")
	}
	if in.Metadata, e = b64("ciphertextMetadata", req.CipherMeta, false, 20); e != nil {
		return nil, orValidation(e, "ciphertextMetadata must be at most 20 bytes.")
	}
	pt, err := h.cfg.Backend.XKSDecrypt(ctx, &c.kms, c.keyID, &in, aad)
	if err != nil {
		return nil, fromKMS(err)
	}
	defer pt.Wipe()
	c.extra = map[string]any{"keyMaterialId": in.KeyMaterialID}
	return struct {
		Plaintext string `json:"plaintext"`
	}{enc().EncodeToString(pt)}, nil
}

// orValidation keeps a decoding error but reports a field of the wrong
// size, which the specification fixes, as ValidationException.
func orValidation(e *xksError, msg string) *xksError {
	if e != nil && e.name != errUnsupported {
		return e
	}
	return fail(errValidation, "%s", msg)
}

type fleetDetail struct {
	ID           string `json:"id"`
	Model        string `json:"model"`
	HealthStatus string `json:"healthStatus"`
}

func (h *Handler) health(_ context.Context, c *call, _ *request) (any, *xksError) {
	status := "ACTIVE"
	if h.cfg.Ready != nil {
		if err := h.cfg.Ready(); err != nil {
			status = "UNAVAILABLE"
			h.cfg.Logger.Warn("XKS health check: not ready", "requestId", c.kms.RequestID, "error", err)
		}
	}
	model := h.cfg.Model
	if model == "" {
		model = "kmsd"
	}
	c.elements = map[string]any{"healthStatus": status}
	return struct {
		FleetSize int           `json:"xksProxyFleetSize"`
		Vendor    string        `json:"xksProxyVendor"`
		Model     string        `json:"xksProxyModel"`
		EKMVendor string        `json:"ekmVendor"`
		Fleet     []fleetDetail `json:"ekmFleetDetails"`
	}{1, "kmsd", model, "kmsd", []fleetDetail{{ID: "kmsd-" + h.cfg.Region, Model: model + " (AES-256-GCM, key material sealed under the root keyring)", HealthStatus: status}}}, nil
}
