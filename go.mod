module github.com/kmsd/kmsd

go 1.26

require (
	github.com/aws/aws-sdk-go-v2 v1.47.7
	github.com/aws/aws-sdk-go-v2/config v1.33.15
	github.com/aws/aws-sdk-go-v2/credentials v1.20.15
	github.com/aws/aws-sdk-go-v2/service/kms v1.62.3
	github.com/aws/smithy-go v1.28.8
	go.etcd.io/bbolt v1.4.3
	gopkg.in/yaml.v3 v3.0.1
)
