package main

import (
	"fmt"
	"io"
	"regexp"
)

// isAWSRegion reports whether r is a Region of one of AWS's partitions:
// the commercial Regions, China, AWS GovCloud (US), the European Sovereign
// Cloud and the isolated Regions. This is the one list in kmsd; it follows
// the endpoint partitions of the AWS SDK for Go v2 in go.mod, and
// TestAWSRegionsMatchTheSDK fails when the SDK knows a Region it lacks.
func isAWSRegion(r string) bool {
	switch r {
	case "af-south-1",
		"ap-east-1", "ap-east-2",
		"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
		"ap-south-1", "ap-south-2",
		"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
		"ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
		"ca-central-1", "ca-west-1",
		"eu-central-1", "eu-central-2",
		"eu-north-1",
		"eu-south-1", "eu-south-2",
		"eu-west-1", "eu-west-2", "eu-west-3",
		"il-central-1",
		"me-central-1", "me-south-1",
		"mx-central-1",
		"sa-east-1",
		"us-east-1", "us-east-2",
		"us-west-1", "us-west-2",
		// China
		"cn-north-1", "cn-northwest-1",
		// AWS GovCloud (US)
		"us-gov-east-1", "us-gov-west-1",
		// European Sovereign Cloud
		"eusc-de-east-1",
		// Isolated Regions
		"us-iso-east-1", "us-iso-west-1",
		"us-isob-east-1", "us-isob-west-1",
		"eu-isoe-west-1",
		"us-isof-east-1", "us-isof-south-1":
		return true
	}
	return false
}

// regionsAccepted is the Region test for request scopes: an AWS Region, or
// a Region this server was configured with (--region, --regions), which
// may be a private name such as local-1. A scope naming any other Region
// is refused as an AWS endpoint refuses it, instead of opening an empty
// namespace for a misspelt name.
func (c *Config) regionsAccepted() func(string) bool {
	own := map[string]bool{c.Region: true}
	for _, r := range c.Regions {
		own[r] = true
	}
	return func(r string) bool { return own[r] || isAWSRegion(r) }
}

// awsShapedRegion matches names in the form of AWS's Regions, such as
// eu-west-1 or us-gov-east-1.
var awsShapedRegion = regexp.MustCompile(`^(af|ap|ca|cn|eu|eusc|il|me|mx|sa|us)(-[a-z]+)+-[0-9]+$`)

// warnRegionNames warns about a configured Region that looks like an AWS
// Region but is none, such as eu-wset-1: it is served as a private
// Region, which is likely a typo.
func warnRegionNames(c Config, stderr io.Writer) {
	for _, r := range append([]string{c.Region}, c.Regions...) {
		if awsShapedRegion.MatchString(r) && !isAWSRegion(r) {
			fmt.Fprintf(stderr, "kmsd: warning: %s is not an AWS Region (misspelt?); it is served as a private Region\n", r)
		}
	}
}
