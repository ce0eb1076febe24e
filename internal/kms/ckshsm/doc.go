// Package ckshsm backs kms's AWS_CLOUDHSM key stores with PKCS#11 tokens:
// each configured token stands for one CloudHsmClusterId, the store's
// KeyStorePassword is the token user's PIN, and hsm's failures become the
// kms.Failure kinds AWS reports.
package ckshsm
