package standin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/currentsdev/currents/internal/standin"
)

func postControl(t *testing.T, s *standin.Server, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(s.URL()+"/_standin/control", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, string(m)
}

func TestControlAPI(t *testing.T) {
	s, u := newAWS(t)
	if code, body := postControl(t, s, `{"throttle":{"action":"GetAuthorizationToken","count":1},"token_lifetime":"90s"}`); code != 200 {
		t.Fatalf("control: %d %s", code, body)
	}
	c := ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""), func(o *ecr.Options) { o.Retryer = aws.NopRetryer{} })
	if _, err := c.GetAuthorizationToken(context.Background(), nil); apiCode(err) != "ThrottlingException" {
		t.Fatalf("throttle via control: %v", err)
	}
	before := time.Now()
	out, err := c.GetAuthorizationToken(context.Background(), nil)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	// Expiry is issue time + 90s, and the issue time lies between before and after.
	if exp := *out.AuthorizationData[0].ExpiresAt; exp.Before(before.Add(90*time.Second-time.Millisecond)) || exp.After(after.Add(90*time.Second)) {
		t.Errorf("token_lifetime via control: expires %v, issued between %v and %v", exp, before, after)
	}
	for _, bad := range []string{`{"token_lifetime":"soon"}`, `{"nonsense":true}`, `not json`, `{"throttle":{"action":"GetAuthToken","count":1}}`} {
		if code, _ := postControl(t, s, bad); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, code)
		}
	}
	resp, err := http.Get(s.URL() + "/_standin/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown control endpoint: %d", resp.StatusCode)
	}
}

// TestTokenRegion: an ECR token works only at the registry of the region
// that issued it.
func TestTokenRegion(t *testing.T) {
	s, u := newAWS(t)
	reg := standin.NewRegistry(s)
	t.Cleanup(reg.Close)
	for region, want := range map[string]int{"us-east-1": http.StatusOK, "eu-west-1": http.StatusUnauthorized} {
		out, err := ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""), func(o *ecr.Options) { o.Region = region }).GetAuthorizationToken(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := *out.AuthorizationData[0].ProxyEndpoint; got != "https://111122223333.dkr.ecr."+region+".amazonaws.com" {
			t.Errorf("proxy endpoint %s", got)
		}
		req, _ := http.NewRequest(http.MethodGet, reg.URL()+"/v2/", nil)
		req.Header.Set("Authorization", "Basic "+*out.AuthorizationData[0].AuthorizationToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token from %s: registry in us-east-1 answered %d, want %d", region, resp.StatusCode, want)
		}
	}
}
