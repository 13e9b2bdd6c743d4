// Package registry turns the server URL docker hands a credential helper into a
// host, and recognises which hosts are Amazon ECR registries.
//
// Parsing is strict on purpose: a host is ECR only when every label sits where
// AWS puts it, so a look-alike such as
// 123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.com never receives a token.
package registry

import (
	"fmt"
	"net/url"
	"strings"
)

// PublicHost is ECR Public's registry host.
const PublicHost = "public.ecr.aws"

// PublicRegion is the only region that issues ECR Public tokens.
const PublicRegion = "us-east-1"

// Registry is an ECR registry as named by its host.
type Registry struct {
	Host      string // normalised host[:port], lowercase
	Account   string // 12-digit AWS account ID; empty for ECR Public
	Region    string // e.g. us-east-1; us-east-1 for ECR Public
	Partition string // aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc
	FIPS      bool
	DualStack bool
	Public    bool // public.ecr.aws: token from ecr-public, not ecr
}

// Normalize maps every spelling docker uses for a registry — "https://host",
// "host", "host/v2/", "HOST:443" — to "host[:port]" in lowercase, which is the
// form config entries and the cache use.
func Normalize(serverURL string) (string, error) {
	s := strings.TrimSpace(serverURL)
	if s == "" {
		return "", fmt.Errorf("empty registry server URL")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("registry server URL %q: %w", serverURL, err)
	}
	if u.Host == "" || u.User != nil {
		return "", fmt.Errorf("registry server URL %q: want a host such as 123456789012.dkr.ecr.us-east-1.amazonaws.com", serverURL)
	}
	// A fully qualified name's trailing dot names the same host.
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	// The default port of the scheme names the same registry as no port at all.
	if (port == "443" && u.Scheme == "https") || (port == "80" && u.Scheme == "http") {
		port = ""
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	if port == "" {
		return host, nil
	}
	// Not net.JoinHostPort: package net would make the lean binary link libc
	// (cgo resolver), and dynamic linking alone costs a warm get ~1ms.
	return host + ":" + port, nil
}

type partition struct {
	id        string
	dnsSuffix string // for <acct>.dkr.ecr[-fips].<region>.<suffix>
	dualStack string // for <acct>.dkr-ecr[-fips].<region>.<suffix>; empty when AWS has none
	regionOK  func(prefix string) bool
}

// partitions follows the SDK's partitions.json (dnsSuffix) and ECR's dual-stack
// endpoint documentation (on.aws, on.amazonwebservices.com.cn). The region prefix
// decides between partitions that share a suffix (aws and aws-us-gov).
var partitions = []partition{
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

// Parse recognises a normalised host as an ECR registry. Hosts with a port are
// never real ECR: AWS serves registries on 443 only.
func Parse(host string) (Registry, bool) {
	host = strings.ToLower(host)
	if host == PublicHost {
		return Registry{Host: host, Region: PublicRegion, Partition: "aws", Public: true}, true
	}
	// <account>.<service>.<region>.<suffix...>
	labels := strings.Split(host, ".")
	if len(labels) < 5 || !IsAccount(labels[0]) {
		return Registry{}, false
	}
	var fips, dual bool
	switch labels[1] {
	case "dkr":
		// dkr.ecr / dkr.ecr-fips take one more label.
		if len(labels) < 6 {
			return Registry{}, false
		}
		switch labels[2] {
		case "ecr":
		case "ecr-fips":
			fips = true
		default:
			return Registry{}, false
		}
		labels = append(labels[:1], labels[3:]...)
	case "dkr-ecr":
		dual = true
		labels = append(labels[:1], labels[2:]...)
	case "dkr-ecr-fips":
		dual, fips = true, true
		labels = append(labels[:1], labels[2:]...)
	default:
		return Registry{}, false
	}
	// Now labels = [account, region, suffix...].
	region := labels[1]
	if !IsRegion(region) {
		return Registry{}, false
	}
	suffix := strings.Join(labels[2:], ".")
	for _, p := range partitions {
		want := p.dnsSuffix
		if dual {
			want = p.dualStack
		}
		if want == "" || suffix != want || !p.regionOK(region) {
			continue
		}
		return Registry{Host: host, Account: labels[0], Region: region, Partition: p.id, FIPS: fips, DualStack: dual}, true
	}
	return Registry{}, false
}

// PartitionOf names the partition a region belongs to, or "" when no partition
// claims it. Aliases use it to build the right ARNs and endpoints.
func PartitionOf(region string) string {
	for _, p := range partitions {
		if p.regionOK(region) {
			return p.id
		}
	}
	return ""
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
