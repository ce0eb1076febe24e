//go:build deps

// Package kmsd pins the modules kmsd builds on until the code that uses them lands.
package kmsd

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/kms"
	_ "github.com/aws/smithy-go"
	_ "go.etcd.io/bbolt"
	_ "gopkg.in/yaml.v3"
)
