package standin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

const (
	userARN = "arn:aws:iam::111122223333:user/ops"
	roleARN = "arn:aws:iam::513558712013:role/currents-pull"
	extID   = "currents-customer-42"
)

func newAWS(t testing.TB, opts ...standin.Option) (*standin.Server, standin.User) {
	t.Helper()
	w := standintest.New(t, standintest.WithServer(opts...), standintest.WithUser(userARN), standintest.WithRole(roleARN),
		standintest.WithExternalID(extID))
	return w.AWS, w.User
}

func creds(id, secret, token string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret, token)
}

// sdkConfig points the unmodified SDK clients at the stand-in, signing with p.
func sdkConfig(s *standin.Server, p aws.CredentialsProvider) aws.Config {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()), Credentials: p}
}

func stsClient(s *standin.Server, p aws.CredentialsProvider, extra ...func(*sts.Options)) *sts.Client {
	return sts.NewFromConfig(sdkConfig(s, p), extra...)
}

func ecrClient(s *standin.Server, p aws.CredentialsProvider, extra ...func(*ecr.Options)) *ecr.Client {
	return ecr.NewFromConfig(sdkConfig(s, p), extra...)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func assume(t *testing.T, s *standin.Server, u standin.User, in *sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
	t.Helper()
	return stsClient(s, creds(u.AccessKeyID, u.SecretAccessKey, "")).AssumeRole(context.Background(), in)
}

func TestAssumeRole(t *testing.T) {
	s, u := newAWS(t)
	before := time.Now()
	out, err := assume(t, s, u, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("currents"), ExternalId: aws.String(extID)})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || *c.SecretAccessKey == "" || *c.SessionToken == "" {
		t.Fatalf("credentials not session-shaped: %+v", c)
	}
	// Expiration is the issue time (to the second) plus the default hour.
	if c.Expiration.Before(before.Add(time.Hour-time.Second)) || c.Expiration.After(after.Add(time.Hour)) {
		t.Errorf("default session expires %v, want an hour after %v", *c.Expiration, before)
	}
	if got, want := *out.AssumedRoleUser.Arn, "arn:aws:sts::513558712013:assumed-role/currents-pull/currents"; got != want {
		t.Errorf("assumed role ARN %q, want %q", got, want)
	}
	if !strings.HasSuffix(*out.AssumedRoleUser.AssumedRoleId, ":currents") {
		t.Errorf("assumed role ID %q", *out.AssumedRoleUser.AssumedRoleId)
	}

	// The session key works, and identifies as the role session.
	sess := creds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	id, err := stsClient(s, sess).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.Arn != *out.AssumedRoleUser.Arn || *id.Account != "513558712013" {
		t.Errorf("caller identity %s %s", *id.Arn, *id.Account)
	}
	if got := s.Counts(); got.AssumeRole != 1 || got.GetCallerIdentity != 1 {
		t.Errorf("counts %+v", got)
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	s, u := newAWS(t)
	other := s.AddUser("arn:aws:iam::444455556666:user/mallory")
	denied := "User: " + userARN + " is not authorized to perform: sts:AssumeRole on resource: "
	cases := []struct {
		name     string
		who      standin.User
		in       sts.AssumeRoleInput
		code     string
		contains string
	}{
		{"unknown role", u, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::513558712013:role/nope"), RoleSessionName: aws.String("s1"), ExternalId: aws.String(extID)}, "AccessDenied", denied + "arn:aws:iam::513558712013:role/nope"},
		{"wrong external id", u, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String("guess")}, "AccessDenied", denied + roleARN},
		{"missing external id", u, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")}, "AccessDenied", denied + roleARN},
		{"untrusted caller", other, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(extID)}, "AccessDenied", "User: arn:aws:iam::444455556666:user/mallory is not authorized"},
		{"duration too short", u, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(extID), DurationSeconds: aws.Int32(600)}, "ValidationError", "greater than or equal to 900"},
		{"duration over role max", u, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(extID), DurationSeconds: aws.Int32(7200)}, "ValidationError", "MaxSessionDuration"},
		{"bad session name", u, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("has space"), ExternalId: aws.String(extID)}, "ValidationError", "roleSessionName"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := assume(t, s, tc.who, &tc.in)
			if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("got %v, want %s containing %q", err, tc.code, tc.contains)
			}
		})
	}
	if got := s.Counts().AssumeRole; got != 0 {
		t.Errorf("refused calls counted as successes: %d", got)
	}
	if got := s.Attempts().AssumeRole; got != int64(len(cases)) {
		t.Errorf("attempts %d, want %d", got, len(cases))
	}

	s.RefuseRole(roleARN, true)
	ok := sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(extID)}
	if _, err := assume(t, s, u, &ok); apiCode(err) != "AccessDenied" {
		t.Fatalf("refused role: %v", err)
	}
	s.RefuseRole(roleARN, false)
	if _, err := assume(t, s, u, &ok); err != nil {
		t.Fatalf("role allowed again: %v", err)
	}
}

func TestSignatureChecks(t *testing.T) {
	s, u := newAWS(t)
	ctx := context.Background()
	_, err := stsClient(s, creds("AKIAUNKNOWNUNKNOWN00", "x", "")).GetCallerIdentity(ctx, nil)
	if apiCode(err) != "InvalidClientTokenId" {
		t.Errorf("unknown key: %v", err)
	}
	_, err = stsClient(s, creds(u.AccessKeyID, u.SecretAccessKey+"x", "")).GetCallerIdentity(ctx, nil)
	if apiCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("bad secret: %v", err)
	}
	_, err = ecrClient(s, creds("AKIAUNKNOWNUNKNOWN00", "x", "")).GetAuthorizationToken(ctx, nil)
	if apiCode(err) != "UnrecognizedClientException" {
		t.Errorf("ecr unknown key: %v", err)
	}
	_, err = ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey+"x", "")).GetAuthorizationToken(ctx, nil)
	if apiCode(err) != "InvalidSignatureException" {
		t.Errorf("ecr bad secret: %v", err)
	}
	id, err := stsClient(s, creds(u.AccessKeyID, u.SecretAccessKey, "")).GetCallerIdentity(ctx, nil)
	if err != nil || *id.Arn != userARN || *id.Account != "111122223333" || !strings.HasPrefix(*id.UserId, "AIDA") {
		t.Fatalf("caller identity of user: %+v %v", id, err)
	}
}

func TestSessionExpiry(t *testing.T) {
	clk := standintest.NewClock(time.Now())
	s, u := newAWS(t, standin.WithClock(clk.Now))
	out, err := assume(t, s, u, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(extID), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	sess := creds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	// Both sides share the clock, as a host and AWS share real time.
	withClock := func(o *ecr.Options) { o.Retryer = aws.NopRetryer{} }
	if _, err := ecrClient(s, sess, withClock).GetAuthorizationToken(context.Background(), nil); err != nil {
		t.Fatalf("fresh session: %v", err)
	}
	clk.Advance(15*time.Minute + time.Second)
	_, err = ecrClient(s, sess).GetAuthorizationToken(context.Background(), nil)
	if apiCode(err) != "ExpiredTokenException" || !strings.Contains(err.Error(), "The security token included in the request is expired") {
		t.Fatalf("expired session on ECR: %v", err)
	}
	_, err = stsClient(s, sess).GetCallerIdentity(context.Background(), nil)
	if apiCode(err) != "ExpiredToken" {
		t.Fatalf("expired session on STS: %v", err)
	}
	// A session key without its token is not a key at all.
	_, err = stsClient(s, creds(*c.AccessKeyId, *c.SecretAccessKey, "")).GetCallerIdentity(context.Background(), nil)
	if apiCode(err) != "InvalidClientTokenId" {
		t.Fatalf("session key without token: %v", err)
	}
}

func TestRoleChainingAndDeny(t *testing.T) {
	s, u := newAWS(t)
	const target = "arn:aws:iam::513558712013:role/currents-push"
	s.AddRole(target, standin.RoleSpec{Trust: []string{roleARN}, MaxSession: 4 * time.Hour, Deny: []string{"ecr:GetAuthorizationToken"}})
	sess := roleSession(t, s, u)
	c := stsClient(s, sess)
	_, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(target), RoleSessionName: aws.String("chain"), DurationSeconds: aws.Int32(7200)})
	if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), "role chaining") {
		t.Fatalf("chained session over 1h: %v", err)
	}
	out, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(target), RoleSessionName: aws.String("chain")})
	if err != nil {
		t.Fatalf("chain trusted by role ARN: %v", err)
	}
	// The user itself is not trusted by the second role.
	if _, err := assume(t, s, u, &sts.AssumeRoleInput{RoleArn: aws.String(target), RoleSessionName: aws.String("direct")}); apiCode(err) != "AccessDenied" {
		t.Fatalf("user assuming a role that trusts only another role: %v", err)
	}
	cr := out.Credentials
	_, err = ecrClient(s, creds(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken)).GetAuthorizationToken(context.Background(), nil)
	want := "User: arn:aws:sts::513558712013:assumed-role/currents-push/chain is not authorized to perform: ecr:GetAuthorizationToken on resource: *"
	if apiCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), want) {
		t.Fatalf("denied GetAuthorizationToken: %v", err)
	}
}

// TestShortSessions: SetSessionLifetime (and the control API's
// session_lifetime) makes sessions expire in seconds, for long-run tests;
// the session then fails as an expired one does.
func TestShortSessions(t *testing.T) {
	s, u := newAWS(t)
	if err := s.Apply(standin.Control{SessionLifetime: "2s"}); err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	out, err := assume(t, s, u, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("currents"), ExternalId: aws.String(extID),
		DurationSeconds: aws.Int32(3600)})
	if err != nil {
		t.Fatal(err)
	}
	// After the ask (minted at least 1 s ahead: 2 s, truncated to the
	// second), at most 2 s from now: not "not yet expired when the answer is
	// read", which a loaded machine taking over a second to read it fails.
	if exp := *out.Credentials.Expiration; !exp.After(asked) || time.Until(exp) > 2*time.Second {
		t.Fatalf("session expires at %s, asked at %s: want after the ask and at most 2s from now", exp, asked)
	}
	c := out.Credentials
	time.Sleep(time.Until(*c.Expiration) + 100*time.Millisecond)
	_, err = stsClient(s, creds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if apiCode(err) != "ExpiredToken" {
		t.Fatalf("expired session: %v", err)
	}
	s.SetSessionLifetime(0)
	out, err = assume(t, s, u, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("currents"), ExternalId: aws.String(extID)})
	if err != nil || time.Until(*out.Credentials.Expiration) < 59*time.Minute {
		t.Fatalf("without the cap: %v %v", out, err)
	}
}
