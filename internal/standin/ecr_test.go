package standin_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// roleSession assumes the test role and returns its credentials provider.
func roleSession(t *testing.T, s *standin.Server, u standin.User) aws.CredentialsProvider {
	t.Helper()
	out, err := assume(t, s, u, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("currents"), ExternalId: aws.String(extID)})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	return creds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
}

func TestGetAuthorizationToken(t *testing.T) {
	s, u := newAWS(t)
	sess := roleSession(t, s, u)
	before := time.Now()
	out, err := ecrClient(s, sess).GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AuthorizationData) != 1 {
		t.Fatalf("authorizationData %+v", out.AuthorizationData)
	}
	ad := out.AuthorizationData[0]
	if got, want := *ad.ProxyEndpoint, "https://513558712013.dkr.ecr.us-east-1.amazonaws.com"; got != want {
		t.Errorf("proxyEndpoint %q, want %q", got, want)
	}
	// The SDK parsed expiresAt from a JSON number, to the millisecond.
	if ad.ExpiresAt.Before(before.Add(12*time.Hour-time.Millisecond)) || ad.ExpiresAt.After(after.Add(12*time.Hour)) {
		t.Errorf("token expires %v, want 12h after %v", *ad.ExpiresAt, before)
	}
	raw, err := base64.StdEncoding.DecodeString(*ad.AuthorizationToken)
	if err != nil {
		t.Fatal(err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" {
		t.Fatalf("token is not AWS:<password>")
	}
	tok, err := s.Verify(user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Principal != "arn:aws:sts::513558712013:assumed-role/currents-pull/currents" || tok.Region != "us-east-1" || !tok.Expires.Equal(*ad.ExpiresAt) {
		t.Errorf("token claims %+v (expiresAt %v)", tok, *ad.ExpiresAt)
	}
	if _, err := s.Verify(user, pass[:len(pass)-8]+"AAAAAAA="); err != standin.ErrTokenInvalid {
		t.Errorf("tampered token: %v", err)
	}
	if _, err := s.Verify("root", pass); err != standin.ErrTokenInvalid {
		t.Errorf("wrong user: %v", err)
	}
	if got := s.Counts().GetAuthorizationToken; got != 1 {
		t.Errorf("GetAuthorizationToken counted %d", got)
	}
}

// TestAnswersCarryContentLength: AWS frames its answers with Content-Length;
// a token answer is past the size at which net/http would otherwise chunk it.
func TestAnswersCarryContentLength(t *testing.T) {
	s, u := newAWS(t)
	var raw *smithyhttp.Response
	capture := func(o *ecr.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("CaptureResponse",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					raw, _ = out.RawResponse.(*smithyhttp.Response)
					return out, md, err
				}), middleware.After)
		})
	}
	if _, err := ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""), capture).GetAuthorizationToken(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if raw == nil {
		t.Fatal("no response captured")
	}
	if raw.ContentLength <= 2048 || len(raw.TransferEncoding) != 0 {
		t.Errorf("answer framed with Content-Length %d, Transfer-Encoding %v", raw.ContentLength, raw.TransferEncoding)
	}
}

func TestTokenLifetimeAndExpiry(t *testing.T) {
	clk := standintest.NewClock(time.Now())
	s, u := newAWS(t, standin.WithClock(clk.Now), standin.WithTokenLifetime(time.Hour))
	out, err := ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey, "")).GetAuthorizationToken(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.AuthorizationData[0].ExpiresAt.Sub(clk.Now()); got <= time.Hour-time.Millisecond || got > time.Hour {
		t.Errorf("token lives %v, want 1h", got)
	}
	s.SetTokenLifetime(3 * time.Second)
	out, err = ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey, "")).GetAuthorizationToken(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(*out.AuthorizationData[0].AuthorizationToken)
	pass := strings.TrimPrefix(string(raw), "AWS:")
	if _, err := s.Verify("AWS", pass); err != nil {
		t.Fatalf("fresh short token: %v", err)
	}
	clk.Advance(3 * time.Second)
	if _, err := s.Verify("AWS", pass); err != standin.ErrTokenExpired {
		t.Fatalf("expired token: %v", err)
	}
}

func TestRepositories(t *testing.T) {
	s, u := newAWS(t)
	c := ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""))
	ctx := context.Background()
	out, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("mirror/currents/api")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *out.Repository.RepositoryUri, "111122223333.dkr.ecr.us-east-1.amazonaws.com/mirror/currents/api"; got != want {
		t.Errorf("repositoryUri %q, want %q", got, want)
	}
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("mirror/currents/api")}); apiCode(err) != "RepositoryAlreadyExistsException" {
		t.Errorf("second create: %v", err)
	}
	d, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"mirror/currents/api"}})
	if err != nil || len(d.Repositories) != 1 || d.Repositories[0].CreatedAt == nil {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if _, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"mirror/currents/nope"}}); apiCode(err) != "RepositoryNotFoundException" {
		t.Errorf("describe missing: %v", err)
	}
	s.Deny(userARN, "ecr:CreateRepository")
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("mirror/currents/writer")})
	if apiCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "not authorized to perform: ecr:CreateRepository") {
		t.Errorf("denied create: %v", err)
	}
	if got := s.Counts(); got.CreateRepository != 1 || got.DescribeRepositories != 1 {
		t.Errorf("counts %+v", got)
	}
}

func TestIssuedSecrets(t *testing.T) {
	s, u := newAWS(t)
	sess := roleSession(t, s, u)
	sc, _ := sess.Retrieve(context.Background())
	out, err := ecrClient(s, sess).GetAuthorizationToken(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(*out.AuthorizationData[0].AuthorizationToken)
	issued := strings.Join(s.IssuedSecrets(), "\n")
	for what, secret := range map[string]string{
		"user secret": u.SecretAccessKey, "session secret": sc.SecretAccessKey, "session token": sc.SessionToken,
		"authorization token": *out.AuthorizationData[0].AuthorizationToken, "password": strings.TrimPrefix(string(raw), "AWS:"),
	} {
		if !strings.Contains(issued, secret) {
			t.Errorf("%s not among IssuedSecrets", what)
		}
	}
}
