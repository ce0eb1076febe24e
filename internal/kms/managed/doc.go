// Package managed describes AWS managed keys: the predefined alias/aws/*
// aliases of the AWS services that protect data with a KMS key of the
// customer's account, and the key an AWS service creates behind one on its
// first use (its description, its key policy, and the actions that policy
// lets anyone perform). It holds data and pure functions only; package kms
// creates, stores and guards the keys.
package managed
