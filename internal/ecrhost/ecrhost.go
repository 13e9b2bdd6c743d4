// Package ecrhost turns the server URL docker hands a credential helper into a
// host, and recognises which hosts are Amazon ECR registries.
//
// Parsing is strict on purpose: a host is ECR only when every label sits where
// AWS puts it, so a look-alike such as
// 123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.com never receives a token.
package ecrhost

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/currentsdev/currents/internal/partition"
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
	if scheme, hostname, port, ok := plainURL(s); ok {
		return normalize(serverURL, scheme, hostname, port)
	}
	return normalizeParsed(serverURL, s)
}

// normalizeParsed is Normalize of s (serverURL with its scheme) through
// url.Parse.
func normalizeParsed(serverURL, s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("registry server URL %q: %w", serverURL, err)
	}
	if u.Host == "" || u.User != nil {
		return "", fmt.Errorf("registry server URL %q: want a host such as 123456789012.dkr.ecr.us-east-1.amazonaws.com", serverURL)
	}
	return normalize(serverURL, u.Scheme, u.Hostname(), u.Port())
}

// plainURL splits s when it is a URL of the plainest shape —
// scheme://host[:port][/path], with a scheme of letters only, a host of
// letters, digits, dots, dashes and underscores, and a path of those and
// slashes and tildes — which is what docker sends. On these url.Parse cannot
// fail and takes them apart just so (FuzzPlainURLIsURLParse holds it to
// that), and deciding it here spares a warm get url.Parse's first call, a
// fiftieth of its time. ok is false for anything else, which url.Parse reads.
func plainURL(s string) (scheme, hostname, port string, ok bool) {
	i := strings.Index(s, "://")
	scheme, rest := s[:i], s[i+3:]
	if scheme == "" || strings.TrimLeft(scheme, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", "", "", false
	}
	authority, path, _ := strings.Cut(rest, "/")
	hostname, port, hasPort := strings.Cut(authority, ":")
	const hostChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"
	if hostname == "" || strings.Trim(hostname, hostChars) != "" ||
		hasPort && (port == "" || strings.Trim(port, "0123456789") != "") ||
		strings.Trim(path, hostChars+"/~") != "" {
		return "", "", "", false
	}
	return strings.ToLower(scheme), hostname, port, true
}

// normalize is Normalize of a URL taken apart.
func normalize(serverURL, scheme, hostname, port string) (string, error) {
	// A fully qualified name's trailing dot names the same host.
	host := strings.TrimSuffix(strings.ToLower(hostname), ".")
	if host == "" || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		// An empty label names no host; allowing one would also let "h.." and
		// "h." normalise to different hosts.
		return "", fmt.Errorf("registry server URL %q: %q is not a host name (it has an empty label)", serverURL, hostname)
	}
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("registry server URL %q: want https:// or http://, or the host alone", serverURL)
	}
	// The default port names the same registry as no port at all: 443 with
	// either scheme (a bare "host:443" is read as https, so http://host:443
	// must come out as "host" too, or the result would not be its own
	// normal form), 80 with http.
	if port == "443" || (port == "80" && scheme == "http") {
		port = ""
	}
	if strings.Contains(host, ":") { // IPv6 literal
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return "", fmt.Errorf("registry server URL %q: %q is not an IPv6 address", serverURL, hostname)
		}
		host = "[" + addr.String() + "]" // one spelling: [::1], not [0:0::1]
	} else if strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != "" {
		// What an image reference can name (docker's domain grammar): a
		// percent escape or a byte outside ASCII would make two spellings of
		// one host, or a config.json key docker never matches.
		return "", fmt.Errorf("registry server URL %q: %q is not a host name (letters, digits, dots and dashes)", serverURL, hostname)
	}
	if port == "" {
		return host, nil
	}
	// Not net.JoinHostPort: package net would make the lean binary link libc
	// (cgo resolver), and dynamic linking alone costs a warm get ~1ms.
	return host + ":" + port, nil
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
	if len(labels) < 5 || !partition.IsAccount(labels[0]) {
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
	if !partition.IsRegion(region) {
		return Registry{}, false
	}
	suffix := strings.Join(labels[2:], ".")
	p, ok := partition.Of(region)
	if !ok || suffix != p.RegistrySuffix(dual) {
		return Registry{}, false
	}
	return Registry{Host: host, Account: labels[0], Region: region, Partition: p.ID, FIPS: fips, DualStack: dual}, true
}
