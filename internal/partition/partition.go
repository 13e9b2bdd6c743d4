// Package partition knows the AWS partitions: which regions each holds, the
// DNS suffixes of its ECR registries, and the shapes of region and account
// IDs. ECR hostnames, currents.yaml validation and IAM ARNs all ask it, so a
// new partition is added in one place.
package partition

import "strings"

// Partition is one AWS partition.
type Partition struct {
	ID        string // aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc
	dnsSuffix string // for <acct>.dkr.ecr[-fips].<region>.<suffix>
	dualStack string // for <acct>.dkr-ecr[-fips].<region>.<suffix>; empty when AWS has none
	regionOK  func(prefix string) bool
}

// RegistrySuffix is the DNS suffix of the partition's ECR registry hosts
// (dual-stack ones when dual is true); "" when the partition has none.
func (p Partition) RegistrySuffix(dual bool) string {
	if dual {
		return p.dualStack
	}
	return p.dnsSuffix
}

// partitions follows the SDK's partitions.json (dnsSuffix) and ECR's dual-stack
// endpoint documentation (on.aws, on.amazonwebservices.com.cn). The region prefix
// decides between partitions that share a suffix (aws and aws-us-gov).
var partitions = []Partition{
	{"aws-us-gov", "amazonaws.com", "on.aws", func(r string) bool { return strings.HasPrefix(r, "us-gov-") }},
	{"aws", "amazonaws.com", "on.aws", func(r string) bool {
		for _, p := range []string{"us-", "eu-", "ap-", "sa-", "ca-", "me-", "af-", "il-", "mx-"} {
			if strings.HasPrefix(r, p) {
				return !strings.HasPrefix(r, "us-gov-") && !strings.HasPrefix(r, "us-iso") && !strings.HasPrefix(r, "eu-isoe-")
			}
		}
		return false
	}},
	{"aws-cn", "amazonaws.com.cn", "on.amazonwebservices.com.cn", func(r string) bool { return strings.HasPrefix(r, "cn-") }},
	{"aws-eusc", "amazonaws.eu", "", func(r string) bool { return strings.HasPrefix(r, "eusc-de-") }},
	{"aws-iso", "c2s.ic.gov", "", func(r string) bool { return strings.HasPrefix(r, "us-iso-") }},
	{"aws-iso-b", "sc2s.sgov.gov", "", func(r string) bool { return strings.HasPrefix(r, "us-isob-") }},
	{"aws-iso-e", "cloud.adc-e.uk", "", func(r string) bool { return strings.HasPrefix(r, "eu-isoe-") }},
	{"aws-iso-f", "csp.hci.ic.gov", "", func(r string) bool { return strings.HasPrefix(r, "us-isof-") }},
}

// Of is the partition a region belongs to; ok is false when no partition
// claims it.
func Of(region string) (p Partition, ok bool) {
	for _, p := range partitions {
		if p.regionOK(region) {
			return p, true
		}
	}
	return Partition{}, false
}

// OfRegion names the partition a region belongs to, or "" when no partition
// claims it. Aliases use it to build the right ARNs and endpoints.
func OfRegion(region string) string {
	p, _ := Of(region)
	return p.ID
}

// Known reports whether id names a partition (as an ARN's second field).
func Known(id string) bool {
	for _, p := range partitions {
		if p.ID == id {
			return true
		}
	}
	return false
}

// IDs lists every partition's ID, for messages.
func IDs() []string {
	ids := make([]string, len(partitions))
	for i, p := range partitions {
		ids[i] = p.ID
	}
	return ids
}

// IsAccount reports whether s is a 12-digit AWS account ID.
func IsAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// IsRegion reports whether s has the shape of an AWS region: lowercase words
// joined by dashes ending in a number, such as us-east-1, us-gov-west-1,
// us-isob-east-1 or eusc-de-east-1.
func IsRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			return false
		}
		last := i == len(parts)-1
		for _, c := range p {
			switch {
			case last && c >= '0' && c <= '9':
			case !last && c >= 'a' && c <= 'z':
			default:
				return false
			}
		}
	}
	return len(parts[0]) >= 2 && len(parts[0]) <= 4 && len(parts[len(parts)-1]) <= 2
}
