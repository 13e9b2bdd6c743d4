package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/product"
)

// advice is what the credential source alone tells us before any request.
type advice struct {
	ecr      bool
	expired  bool
	register string // what to do so docker runs our helper for the host
	warnings []string
}

func (p *Prober) credentialAdvice(host string, cred keychain.Credential) advice {
	a := advice{ecr: p.isECR(host), register: p.register(host, cred.Source.ConfigFile)}
	src := cred.Source
	if src.Kind != keychain.FromCredHelper && !src.Expiry.IsZero() {
		now := p.now()
		if !now.Before(src.Expiry) {
			a.expired = true
		} else {
			a.warnings = append(a.warnings, fmt.Sprintf("static ECR token from %s expires at %s (in %s) and nothing renews it; %s",
				src, src.Expiry.UTC().Format(time.RFC3339), src.Expiry.Sub(now).Round(time.Minute), a.register))
		}
	}
	if a.ecr && src.Kind != keychain.FromCredHelper && !a.expired && src.Kind != keychain.FromNowhere && src.Expiry.IsZero() {
		a.warnings = append(a.warnings, fmt.Sprintf("no credential helper registered for ECR registry %s (credentials come from %s); %s", host, src, a.register))
	}
	return a
}

// register says how to make docker run our helper for host. When
// currents.yaml already configures the host only config.json lacks the
// entry; otherwise configure writes both (and needs the vendor's role).
func (p *Prober) register(host, configFile string) string {
	if at := p.configured(host); at != "" {
		return fmt.Sprintf("register the helper: add %s to %s (currents.yaml already configures %s at %s)", HelperSnippet(host), configFile, host, at)
	}
	return fmt.Sprintf("register the helper: docker-credential-currents configure --registry %s --role-arn <the role ARN the vendor gave you> [--external-id-file <file holding the external ID>]", host)
}

// HelperSnippet is the config.json entry that makes docker run our helper
// for host.
func HelperSnippet(host string) string {
	return fmt.Sprintf(`{"credHelpers": {%q: %q}}`, host, product.HelperName)
}

// explain maps a registry error to a status, a plain message and a fix.
func (p *Prober) explain(host string, cred keychain.Credential, a advice, err error, ref name.Reference) (Status, string, string) {
	what := host
	if ref != nil {
		what = ref.String()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Unreachable, fmt.Sprintf("%s did not answer in time", host), "check the network path to " + host + ", or raise CURRENTS_TIMEOUT (e.g. CURRENTS_TIMEOUT=60s)"
	}
	if msg, fix, ok := p.tlsProblem(host, err); ok {
		return Unreachable, msg, fix
	}
	var terr *transport.Error
	if !errors.As(err, &terr) {
		if got, asked, ok := digestMismatch(err); ok {
			return Failed, fmt.Sprintf("%s served a manifest that is not the digest asked for: %s instead of %s", host, got, asked),
				"the registry, or a cache or proxy in front of it, serves wrong content for this digest (docker refuses it too): tell its owner"
		}
		if closedBefore(err) {
			return Unreachable, fmt.Sprintf("%s closed the connection before answering", host),
				"run the check again; if it lasts, look at what lies between this host and the registry (a proxy, a load balancer, HTTPS_PROXY) and at the registry's logs"
		}
		if msg, ok := unreachable(host, err); ok {
			return Unreachable, msg, "check the registry host in the image reference, and the network path to it"
		}
		return Failed, fmt.Sprintf("%s: %v", what, err), ""
	}
	if a.expired || strings.Contains(strings.ToLower(err.Error()), "token has expired") {
		msg, fix := expired(host, cred.Source, a)
		return Expired, msg, fix
	}
	if st, msg, fix, ok := refused(host, cred.Source, a, terr, ref); ok {
		return st, msg, fix
	}
	return Failed, fmt.Sprintf("%s: %v", what, err), ""
}

// unreachable says why a request never reached the registry. ggcr tries
// https then http for loopback hosts: the cause is the same, said once.
func unreachable(host string, err error) (string, bool) {
	var nerr net.Error
	if !errors.As(err, &nerr) && !strings.Contains(err.Error(), "connection refused") && !strings.Contains(err.Error(), "no such host") {
		return "", false
	}
	why := err.Error()
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		why = "no such host"
	case errors.As(err, &op) && op.Err != nil:
		why = op.Err.Error()
	}
	return fmt.Sprintf("cannot reach %s: %s", host, why), true
}

// digestMismatch reads go-containerregistry's error for a manifest whose
// bytes do not have the digest the reference asked for (it has no type).
func digestMismatch(err error) (got, asked string, ok bool) {
	var g, a, r string
	if _, serr := fmt.Sscanf(err.Error(), "manifest digest: %q does not match requested digest: %q for %q", &g, &a, &r); serr != nil {
		return "", "", false
	}
	return g, a, true
}

// closedBefore reports whether the registry was reached but closed the
// connection without an answer: the host in the reference is not what to
// check.
func closedBefore(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read" && errors.Is(err, syscall.ECONNRESET)
}

// expired explains a token the registry (or its expiry time) says is
// expired.
func expired(host string, src keychain.Source, a advice) (msg, fix string) {
	msg = fmt.Sprintf("%s says the authorization token from %s has expired", host, src)
	if a.expired {
		msg = fmt.Sprintf("the static ECR token for %s from %s expired at %s (ECR tokens last 12 hours)", host, src, src.Expiry.UTC().Format(time.RFC3339))
	}
	fix = a.register + ", so docker fetches a fresh token before each pull"
	switch src.Kind {
	case keychain.FromAuths:
		fix += "; then drop the stale login: docker logout " + host
	case keychain.FromCredHelper:
		fix = helperFix(src)
	}
	return msg, fix
}

// refused explains the registry's HTTP answers that say no.
func refused(host string, src keychain.Source, a advice, terr *transport.Error, ref name.Reference) (Status, string, string, bool) {
	switch terr.StatusCode {
	case http.StatusUnauthorized:
		switch {
		case src.Kind == keychain.FromNowhere && a.ecr:
			return Unauthorized, fmt.Sprintf("docker has no credentials for ECR registry %s: no credential helper is registered for it in %s", host, src.ConfigFile), a.register, true
		case src.Kind == keychain.FromNowhere:
			return Unauthorized, fmt.Sprintf("%s wants credentials and docker has none for it in %s", host, src.ConfigFile), "docker login " + host + ", or register a credential helper for it in credHelpers", true
		}
		return Unauthorized, fmt.Sprintf("%s rejected the credentials from %s", host, src), helperFix(src), true
	case http.StatusForbidden:
		what := host
		if ref != nil {
			what = "repository " + ref.Context().RepositoryStr() + " on " + host
		}
		return Denied, fmt.Sprintf("access denied to %s for the credentials from %s", what, src),
			"the identity lacks pull rights on this repository (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer): ask the registry owner to grant them (docker currents policy prints the IAM policy)", true
	case http.StatusNotFound:
		switch {
		case ref == nil:
			return Failed, fmt.Sprintf("%s answers 404 at /v2/: it is not a container registry", host), "check the registry address in the image reference", true
		case hasCode(terr, transport.NameUnknownErrorCode):
			return NotFound, fmt.Sprintf("repository %s does not exist on %s", ref.Context().RepositoryStr(), host),
				"check the repository part of the image reference, or mirror the image there: docker currents mirror", true
		}
		if _, ok := ref.(name.Digest); ok {
			return NotFound, fmt.Sprintf("digest %s is not in %s", ref.Identifier(), ref.Context().String()),
				"check the digest in the image reference: the registry has no image by it (deleted, or pushed elsewhere)", true
		}
		return NotFound, fmt.Sprintf("tag %s is not in %s", ref.Identifier(), ref.Context().String()),
			"check the tag, or mirror that tag there: docker currents mirror", true
	case http.StatusTooManyRequests:
		what := host
		if ref != nil {
			what = ref.String()
		}
		return Failed, fmt.Sprintf("%s: rate limited by the registry", what), "wait and run the check again, or lower --jobs", true
	case http.StatusServiceUnavailable:
		return Failed, fmt.Sprintf("%s: the registry is unavailable (503)", host),
			"run the check again later; if it lasts, the registry (or a proxy in front of it) is down", true
	}
	return "", "", "", false
}

func hasCode(e *transport.Error, code transport.ErrorCode) bool {
	for _, d := range e.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

func helperFix(src keychain.Source) string {
	switch src.Kind {
	case keychain.FromCredHelper:
		if src.Helper == product.HelperName {
			return "run docker-credential-currents doctor to see why the helper's credentials fail"
		}
		return fmt.Sprintf("check the docker-credential-%s helper (credHelpers in %s)", src.Helper, src.ConfigFile)
	case keychain.FromAuths:
		return "the static docker login in " + src.ConfigFile + " is stale or wrong: docker login again, or register the credential helper (docker-credential-currents configure --registry <host> --role-arn <ARN>)"
	case keychain.FromCredsStore:
		return fmt.Sprintf("docker login again, or register a helper for this registry in credHelpers (%s)", src.ConfigFile)
	}
	return "check the credentials docker has for this registry"
}
