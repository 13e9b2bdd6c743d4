package probe

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Answers the stand-in registry does not give are mapped from the errors
// go-containerregistry returns for them.
func TestExplain(t *testing.T) {
	ref, _ := name.ParseReference("123456789012.dkr.ecr.us-east-1.amazonaws.com/currents/api:1")
	host := ref.Context().RegistryStr()
	helper := Credential{Source: Source{Kind: FromCredHelper, Helper: "currents", Key: host}}
	p := New(NewKeychain(nil))
	cases := []struct {
		err    error
		status Status
		says   string
	}{
		{&transport.Error{StatusCode: http.StatusForbidden, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode, Message: "not authorized to perform: ecr:BatchGetImage"}}},
			Denied, "ecr:BatchGetImage"},
		{&transport.Error{StatusCode: http.StatusForbidden, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode, Message: "Your authorization token has expired. Reauthenticate and try again."}}},
			Expired, "docker-credential-currents doctor"},
		{&transport.Error{StatusCode: http.StatusUnauthorized}, Unauthorized, "docker-credential-currents doctor"},
		{&transport.Error{StatusCode: http.StatusNotFound, Errors: []transport.Diagnostic{{Code: transport.NameUnknownErrorCode}}}, NotFound, "does not exist"},
		{&transport.Error{StatusCode: http.StatusTooManyRequests}, Failed, "--jobs"},
		{context.DeadlineExceeded, Unreachable, "CURRENTS_TIMEOUT"},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), Unreachable, "network"},
	}
	for _, c := range cases {
		st, msg, fix := p.explain(host, helper, advice{ecr: true}, c.err, ref)
		if st != c.status || !strings.Contains(msg+" "+fix, c.says) {
			t.Errorf("%v: %s %q %q, want %s mentioning %q", c.err, st, msg, fix, c.status, c.says)
		}
	}
}
