package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"time"

	"filippo.io/mldsa"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// signingScenarios creates one key per signing spec and an HMAC key, and
// returns Sign and GenerateMac scenarios over a 32-byte message.
func signingScenarios(ctx context.Context, c *kms.Client) ([]scenario, error) {
	msg := make([]byte, 32)
	var out []scenario
	for _, k := range []struct {
		name string
		spec types.KeySpec
		alg  types.SigningAlgorithmSpec
	}{
		{"Sign P-256", types.KeySpecEccNistP256, types.SigningAlgorithmSpecEcdsaSha256},
		{"Sign Ed25519", types.KeySpecEccNistEdwards25519, types.SigningAlgorithmSpecEd25519Sha512},
		{"Sign RSA-2048 PSS", types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPssSha256},
		{"Sign ML-DSA-65", types.KeySpecMlDsa65, types.SigningAlgorithmSpecMlDsaShake256},
	} {
		ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: k.spec, KeyUsage: types.KeyUsageTypeSignVerify})
		if err != nil {
			return nil, fmt.Errorf("create %s key: %w", k.spec, err)
		}
		id, alg := ck.KeyMetadata.KeyId, k.alg
		out = append(out, scenario{k.name, func(ctx context.Context, c *kms.Client) error {
			_, err := c.Sign(ctx, &kms.SignInput{KeyId: id, Message: msg, SigningAlgorithm: alg})
			return err
		}})
	}
	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	if err != nil {
		return nil, fmt.Errorf("create HMAC key: %w", err)
	}
	macKey := ck.KeyMetadata.KeyId
	out = append(out, scenario{"GenerateMac 256", func(ctx context.Context, c *kms.Client) error {
		_, err := c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: macKey, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
		return err
	}})
	return out, nil
}

// printPrimitiveCosts measures the raw cost of each primitive in this
// process, so the table shows what kmsd adds on top of the cryptography.
func printPrimitiveCosts() {
	msg := make([]byte, 32)
	digest := sha256.Sum256(msg)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	mldsaKey, _ := mldsa.GenerateKey(mldsa.MLDSA65())
	macKey := make([]byte, 32)
	costs := []struct {
		name string
		f    func()
	}{
		{"ECDSA P-256 sign", func() { _, _ = ecdsa.SignASN1(rand.Reader, p256, digest[:]) }},
		{"Ed25519 sign", func() { _ = ed25519.Sign(edPriv, msg) }},
		{"RSA-2048 PSS sign", func() {
			_, _ = rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}},
		{"ML-DSA-65 sign", func() { _, _ = mldsaKey.Sign(nil, msg, nil) }},
		{"HMAC-SHA-256", func() { m := hmac.New(sha256.New, macKey); m.Write(msg); _ = m.Sum(nil) }},
	}
	fmt.Println("raw primitive cost in Go on this machine (one core):")
	for _, c := range costs {
		n, start := 0, time.Now()
		for time.Since(start) < 300*time.Millisecond {
			c.f()
			n++
		}
		fmt.Printf("  %-20s %10s/op\n", c.name, (time.Since(start) / time.Duration(n)).Round(100*time.Nanosecond))
	}
}
