package queue

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/partition"
)

// URL is a parsed SQS queue URL: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
// (or a FIPS, legacy, VPC-endpoint or test host) with what it says.
type URL struct {
	Raw     string
	Account string
	Name    string
	// Region is what the host says ("" for a host that names none, such as a
	// stand-in on loopback).
	Region string
	// Standard reports an AWS endpoint host the SDK resolves by itself; for
	// any other host (a VPC endpoint, a stand-in) the host is the endpoint.
	Standard bool
	Endpoint string // scheme://host of a non-standard host
}

// ARN is the queue's ARN, in the region's partition (region must be known).
func (u URL) ARN(region string) string {
	part := partition.OfRegion(region)
	if part == "" {
		part = "aws"
	}
	return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", part, region, u.Account, u.Name)
}

// ParseURL reads --queue. The path must be /ACCOUNT/NAME, as every SQS queue
// URL is.
func ParseURL(raw string) (URL, error) {
	bad := func(why string) (URL, error) {
		return URL{}, fix.New(fmt.Errorf("--queue %q: %s", raw, why),
			"give the queue URL as SQS shows it, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/currents-watch (aws sqs get-queue-url --queue-name NAME)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return bad("not an http(s) URL")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || !partition.IsAccount(parts[0]) || parts[1] == "" {
		return bad("the path is not /ACCOUNT/NAME")
	}
	out := URL{Raw: raw, Account: parts[0], Name: parts[1]}
	out.Region, out.Standard = hostRegion(strings.ToLower(u.Hostname()))
	if !out.Standard {
		out.Endpoint = u.Scheme + "://" + u.Host
	}
	if out.Region != "" && !partition.IsRegion(out.Region) {
		return bad("the host names no AWS region")
	}
	if u.Scheme != "https" && out.Standard {
		return bad("SQS endpoints are https")
	}
	return out, nil
}

// hostRegion is the region an SQS host names, and whether it is one of
// AWS's own endpoints (sqs.REGION.amazonaws.com, sqs-fips…, the legacy
// REGION.queue.amazonaws.com and queue.amazonaws.com); a VPC endpoint
// (vpce-….sqs.REGION.vpce.amazonaws.com) names its region but is not.
func hostRegion(host string) (region string, standard bool) {
	labels := strings.Split(host, ".")
	aws := func(from int) bool { return strings.HasPrefix(strings.Join(labels[from:], "."), "amazonaws.com") }
	switch {
	case host == "queue.amazonaws.com":
		return "us-east-1", true
	case len(labels) >= 4 && (labels[0] == "sqs" || labels[0] == "sqs-fips") && aws(2):
		return labels[1], true
	case len(labels) >= 4 && labels[1] == "queue" && aws(2):
		return labels[0], true
	}
	for i, l := range labels {
		if l == "sqs" && i+1 < len(labels) && partition.IsRegion(labels[i+1]) {
			return labels[i+1], false
		}
	}
	return "", false
}
