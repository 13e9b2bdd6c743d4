package awsapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/secret"
)

// FuzzDecodeToken: an ECR authorization token of any content is user:password
// or an error.
func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{base64.StdEncoding.EncodeToString([]byte("AWS:pw")), "QVdTOg==", "Og==", "", "!!", "QVdT", "QVdTOnB3\n", "QVdTOnB3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		user, pass, err := decodeToken(s)
		if err == nil && (user == "" || pass == "" || strings.Contains(user, ":")) {
			t.Errorf("decodeToken(%q) = %q, %q", s, user, pass)
		}
	})
}

// The operations FuzzAnswers sends through the real SDK.
const (
	opAssumeRole = iota
	opToken
	opPublicToken
	opCallerIdentity
	opWebIdentity
	ops
)

// FuzzAnswers: whatever STS or ECR answer (any status, any body), the real SDK
// and our reading of its output give a complete credential or an error that
// says which step failed; never a panic, never half a session.
func FuzzAnswers(f *testing.F) {
	const stsOK = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>` +
		`<AccessKeyId>ASIAFUZZ</AccessKeyId><SecretAccessKey>sk</SecretAccessKey><SessionToken>st</SessionToken>` +
		`<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::513558712013:assumed-role/pull/s</Arn>` +
		`<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`
	webOK := strings.ReplaceAll(stsOK, "AssumeRoleR", "AssumeRoleWithWebIdentityR")
	const callerOK = `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::513558712013:user/u</Arn><UserId>AIDA</UserId>` +
		`<Account>513558712013</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`
	const ecrOK = `{"authorizationData":[{"authorizationToken":"QVdTOnB3","expiresAt":4070908800,"proxyEndpoint":"https://513558712013.dkr.ecr.us-east-1.amazonaws.com"}]}`
	const publicOK = `{"authorizationData":{"authorizationToken":"QVdTOnB3","expiresAt":4070908800}}`
	for op, ok := range map[int]string{opAssumeRole: stsOK, opToken: ecrOK, opPublicToken: publicOK, opCallerIdentity: callerOK, opWebIdentity: webOK} {
		f.Add(uint8(op), uint16(200), []byte(ok))
		f.Add(uint8(op), uint16(200), []byte(ok[:len(ok)/2]))
		f.Add(uint8(op), uint16(200), []byte(strings.Replace(ok, "2099-01-01T00:00:00Z", "2001-01-01T00:00:00Z", 1)))
		f.Add(uint8(op), uint16(200), []byte(strings.Replace(ok, "4070908800", "1e400", 1)))
	}
	f.Add(uint8(opAssumeRole), uint16(200), []byte(`<AssumeRoleResponse><AssumeRoleResult></AssumeRoleResult></AssumeRoleResponse>`))
	f.Add(uint8(opWebIdentity), uint16(200), []byte(`<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`))
	f.Add(uint8(opToken), uint16(200), []byte(`{"authorizationData":[]}`))
	f.Add(uint8(opToken), uint16(200), []byte(`{"authorizationData":[{}]}`))
	f.Add(uint8(opPublicToken), uint16(200), []byte(`{}`))
	f.Add(uint8(opAssumeRole), uint16(403), []byte(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>`))
	f.Add(uint8(opToken), uint16(400), []byte(`{"__type":"ThrottlingException","message":"slow down"}`))
	f.Add(uint8(opToken), uint16(500), []byte(``))

	var answer struct {
		status int
		body   []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Content-Type"), "json") {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			w.Header().Set("Content-Type", "text/xml")
		}
		w.WriteHeader(answer.status)
		w.Write(answer.body)
	}))
	f.Cleanup(srv.Close)
	dir := f.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJmdXp6In0."), 0o600); err != nil {
		f.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_STS": srv.URL, "AWS_ENDPOINT_URL_ECR": srv.URL, "AWS_ENDPOINT_URL_ECR_PUBLIC": srv.URL,
		"AWS_ACCESS_KEY_ID": "AKIAFUZZ", "AWS_SECRET_ACCESS_KEY": "fuzz-secret", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		f.Setenv(k, v)
	}
	cfg, err := config.Parse("/etc/currents.yaml", []byte(fmt.Sprintf(
		"registries:\n  - host: 127.0.0.1:5000\n    account: \"513558712013\"\n    region: us-east-1\n    role_arn: arn:aws:iam::513558712013:role/pull\n"+
			"  - host: public.ecr.aws\n"+
			"  - host: 127.0.0.1:5001\n    account: \"513558712013\"\n    region: us-east-1\n    role_arn: arn:aws:iam::513558712013:role/ci\n    web_identity_token_file: %s\n", tokenFile)))
	if err != nil {
		f.Fatal(err)
	}
	private, _ := cfg.Lookup("127.0.0.1:5000")
	public, _ := cfg.Lookup("public.ecr.aws")
	web, _ := cfg.Lookup("127.0.0.1:5001")
	src := credential.Session{AccessKeyID: "AKIAFUZZ", SecretAccessKey: secret.New("fuzz-secret")}

	f.Fuzz(func(t *testing.T, op uint8, status uint16, body []byte) {
		answer.status, answer.body = 200+int(status)%400, body // 200..599: what a server may send
		c := New(WithTimeout(5 * time.Second))
		c.attempts = 1 // a retried throttle would spend seconds of backoff per input
		ctx := context.Background()
		var err error
		switch op % ops {
		case opAssumeRole:
			var s credential.Session
			if s, err = c.AssumeRole(ctx, private, src); err == nil {
				checkSession(t, s)
			}
		case opWebIdentity:
			var s credential.Session
			if s, err = c.AssumeRole(ctx, web, credential.Session{}); err == nil {
				checkSession(t, s)
			}
		case opToken, opPublicToken:
			tg := private
			if op%ops == opPublicToken {
				tg = public
			}
			var tok credential.Token
			if tok, err = c.AuthorizationToken(ctx, tg, src); err == nil &&
				(tok.Username == "" || tok.Password.IsZero() || !tok.Expires.After(tok.Issued)) {
				t.Errorf("incomplete token accepted: %+v", tok)
			}
		case opCallerIdentity:
			_, err = c.CallerIdentity(ctx, private, src)
		}
		if err != nil && !strings.Contains(err.Error(), "127.0.0.1:500") && !strings.Contains(err.Error(), "public.ecr.aws") {
			t.Errorf("error does not name the registry: %v", err)
		}
	})
}

func checkSession(t *testing.T, s credential.Session) {
	t.Helper()
	if s.AccessKeyID == "" || s.SecretAccessKey.IsZero() || !s.Expires.After(s.Issued) {
		t.Errorf("incomplete session accepted: %+v", s)
	}
}
