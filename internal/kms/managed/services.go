package managed

import (
	"slices"
	"strings"
)

// Prefix starts every alias of an AWS managed key; customers cannot create
// aliases under it.
const Prefix = "alias/aws/"

// Service is an AWS service that keeps an AWS managed key in each account
// and Region where it is used, named by the predefined alias Alias.
type Service struct {
	Alias string // alias/aws/s3
	// Endpoint is the service prefix of the kms:ViaService value in the
	// key policy ("ec2" for Amazon EBS).
	Endpoint string
	// PolicyID and Sid are the Id of the key policy and the Sid of the
	// statement that lets the account's principals use the key through
	// the service.
	PolicyID, Sid string
	// Protects completes the description, "Default key that protects my
	// <Protects> when no other key is defined".
	Protects string
	// Grants is set when the key policy lets the service create grants
	// (kms:CreateGrant) and the account revoke them (kms:RevokeGrant).
	Grants bool
}

// through is the Sid of the AWS managed key policies that name the service
// the same way twice.
func through(name string) string {
	return "Allow access through " + name + " for all principals in the account that are authorized to use " + name
}

// services are the predefined aliases that ListAliases shows in every
// account, with or without a key behind them yet. Policy ids and texts are
// the ones AWS publishes or returns where known (auto-s3-2, auto-dynamodb-1,
// auto-awslambda, auto-elasticfilesystem-1); aws/s3's policy has no grant
// permissions, the others follow the documented template, which has them.
var services = []Service{
	{Alias: "alias/aws/acm", Endpoint: "acm", PolicyID: "auto-acm-1", Sid: through("AWS Certificate Manager"), Protects: "ACM private keys", Grants: true},
	{Alias: "alias/aws/dynamodb", Endpoint: "dynamodb", PolicyID: "auto-dynamodb-1", Sid: through("Amazon DynamoDB"), Protects: "DynamoDB data", Grants: true},
	{Alias: "alias/aws/ebs", Endpoint: "ec2", PolicyID: "auto-ebs-2", Sid: through("EBS"), Protects: "EBS volumes", Grants: true},
	{Alias: "alias/aws/elasticfilesystem", Endpoint: "elasticfilesystem", PolicyID: "auto-elasticfilesystem-1", Sid: "Allow access to EFS for all principals in the account that are authorized to use EFS", Protects: "EFS filesystems", Grants: true},
	{Alias: "alias/aws/es", Endpoint: "es", PolicyID: "auto-es-1", Sid: through("Elasticsearch Service"), Protects: "Elasticsearch data", Grants: true},
	{Alias: "alias/aws/glue", Endpoint: "glue", PolicyID: "auto-glue-1", Sid: through("AWS Glue"), Protects: "Glue data", Grants: true},
	{Alias: "alias/aws/kinesisvideo", Endpoint: "kinesisvideo", PolicyID: "auto-kinesisvideo-1", Sid: through("Kinesis Video Streams"), Protects: "kinesis video data", Grants: true},
	{Alias: "alias/aws/lambda", Endpoint: "lambda", PolicyID: "auto-awslambda", Sid: through("AWS Lambda"), Protects: "Lambda functions", Grants: true},
	{Alias: "alias/aws/rds", Endpoint: "rds", PolicyID: "auto-rds-2", Sid: through("RDS"), Protects: "RDS database volumes", Grants: true},
	{Alias: "alias/aws/redshift", Endpoint: "redshift", PolicyID: "auto-redshift-1", Sid: through("Redshift"), Protects: "Redshift data", Grants: true},
	{Alias: "alias/aws/s3", Endpoint: "s3", PolicyID: "auto-s3-2", Sid: through("S3"), Protects: "S3 objects"},
	{Alias: "alias/aws/secretsmanager", Endpoint: "secretsmanager", PolicyID: "auto-secretsmanager-2", Sid: through("AWS Secrets Manager"), Protects: "Secrets Manager data", Grants: true},
	{Alias: "alias/aws/ssm", Endpoint: "ssm", PolicyID: "auto-ssm-1", Sid: through("EC2 Systems Manager"), Protects: "SSM parameters", Grants: true},
	{Alias: "alias/aws/xray", Endpoint: "xray", PolicyID: "auto-xray-1", Sid: through("AWS X-Ray"), Protects: "X-Ray data", Grants: true},
}

// Lookup returns the service whose predefined alias is alias.
func Lookup(alias string) (Service, bool) {
	if !strings.HasPrefix(alias, Prefix) {
		return Service{}, false
	}
	i, ok := slices.BinarySearchFunc(services, alias, func(s Service, a string) int { return strings.Compare(s.Alias, a) })
	if !ok {
		return Service{}, false
	}
	return services[i], true
}

// Aliases returns the predefined aliases in byte order, the order in which
// ListAliases pages through alias names.
func Aliases() []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = s.Alias
	}
	return out
}

// Description is the key's description, in the format AWS reserves for
// AWS managed keys.
func (s Service) Description() string {
	return "Default key that protects my " + s.Protects + " when no other key is defined"
}

// ViaService is the kms:ViaService value of a request the service makes
// in region: its endpoint's host name.
func (s Service) ViaService(region string) string {
	host := s.Endpoint + "." + region + ".amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		host += ".cn"
	}
	return host
}
