package standin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// TestDefaultChainProfileRole drives the SDK's own role machinery: a profile
// with role_arn, source_profile and external_id, endpoints from Env.
func TestDefaultChainProfileRole(t *testing.T) {
	s, u := newAWS(t)
	standintest.Isolate(t)
	standintest.SetEnv(t, s.Env(standin.User{}))
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	cfgFile := "[profile vendor]\nrole_arn = " + roleARN + "\nexternal_id = " + extID + "\nsource_profile = ops\n"
	credFile := "[ops]\naws_access_key_id = " + u.AccessKeyID + "\naws_secret_access_key = " + u.SecretAccessKey + "\n"
	if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(cfgFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(credFile), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_PROFILE", "vendor")
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := *out.AuthorizationData[0].ProxyEndpoint; got != "https://513558712013.dkr.ecr.us-east-1.amazonaws.com" {
		t.Errorf("proxy endpoint %s", got)
	}
	if got := s.Counts(); got.AssumeRole != 1 || got.GetAuthorizationToken != 1 {
		t.Errorf("counts %+v", got)
	}
}

// TestDefaultChainWebIdentity uses AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE,
// as CI OIDC does.
func TestDefaultChainWebIdentity(t *testing.T) {
	s := standintest.New(t, standintest.WithoutUser()).AWS
	token := "eyJhbGciOiJSUzI1NiJ9.c3RhbmRpbg.c2ln"
	s.AddRole(roleARN, standin.RoleSpec{WebIdentityToken: token})
	standintest.Isolate(t)
	standintest.SetEnv(t, s.Env(standin.User{}))
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ROLE_ARN", roleARN)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := s.Counts(); got.AssumeRoleWithWebIdentity != 1 || got.GetAuthorizationToken != 1 {
		t.Errorf("counts %+v", got)
	}

	// A token the role does not know is refused.
	if err := os.WriteFile(tokenFile, []byte("eyJ.other.token"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = ecr.NewFromConfig(cfg).GetAuthorizationToken(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("unknown web identity token: %v", err)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	s, u := newAWS(t)
	s.Throttle("GetAuthorizationToken", 2)
	s.Throttle("AssumeRole", 1)
	fast := func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	}
	c := ecrClient(s, roleSessionWith(t, s, u, func(o *sts.Options) { o.Retryer = retry.NewStandard(fast) }),
		func(o *ecr.Options) { o.Retryer = retry.NewStandard(fast) })
	if _, err := c.GetAuthorizationToken(context.Background(), nil); err != nil {
		t.Fatalf("throttled calls not retried to success: %v", err)
	}
	if got, att := s.Counts(), s.Attempts(); s.Calls().GetAuthorizationToken != 1 || got.GetAuthorizationToken != 1 || att.GetAuthorizationToken != 3 || got.AssumeRole != 1 || att.AssumeRole != 2 {
		t.Errorf("counts %+v attempts %+v", got, att)
	}
	// Without retries the SDK surfaces the throttling error as AWS names it.
	s.Throttle("GetAuthorizationToken", 1)
	_, err := ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""), func(o *ecr.Options) { o.Retryer = aws.NopRetryer{} }).GetAuthorizationToken(context.Background(), nil)
	if apiCode(err) != "ThrottlingException" {
		t.Errorf("ECR throttle: %v", err)
	}
	s.Throttle("GetCallerIdentity", 1)
	_, err = stsClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""), func(o *sts.Options) { o.Retryer = aws.NopRetryer{} }).GetCallerIdentity(context.Background(), nil)
	if apiCode(err) != "Throttling" {
		t.Errorf("STS throttle: %v", err)
	}
}

func roleSessionWith(t *testing.T, s *standin.Server, u standin.User, opt func(*sts.Options)) aws.CredentialsProvider {
	t.Helper()
	out, err := stsClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""), opt).AssumeRole(context.Background(),
		&sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("currents"), ExternalId: aws.String(extID)})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	return creds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
}

func TestClockSkew(t *testing.T) {
	s, u := newAWS(t, standin.WithSkew(10*time.Minute))
	key := creds(u.AccessKeyID, u.SecretAccessKey, "")
	_, err := stsClient(s, key, func(o *sts.Options) { o.Retryer = aws.NopRetryer{} }).GetCallerIdentity(context.Background(), nil)
	if apiCode(err) != "SignatureDoesNotMatch" || !strings.Contains(err.Error(), "Signature expired") {
		t.Fatalf("skewed STS: %v", err)
	}
	_, err = ecrClient(s, key, func(o *ecr.Options) { o.Retryer = aws.NopRetryer{} }).GetAuthorizationToken(context.Background(), nil)
	if apiCode(err) != "InvalidSignatureException" || !strings.Contains(err.Error(), "Signature expired") {
		t.Fatalf("skewed ECR: %v", err)
	}
	// The Date header carries the server's clock, which is how doctor (and
	// the SDK's skew correction) see the skew.
	resp, err := http.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(date); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("Date header is %v ahead, want 10m", d)
	}
	if resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Error("no x-amzn-RequestId")
	}
	// The SDK corrects skew from the Date header and retries, as with AWS.
	if _, err := stsClient(s, key).GetCallerIdentity(context.Background(), nil); err != nil {
		t.Errorf("SDK skew correction: %v", err)
	}
	s.SetSkew(-10 * time.Minute)
	_, err = stsClient(s, key, func(o *sts.Options) { o.Retryer = aws.NopRetryer{} }).GetCallerIdentity(context.Background(), nil)
	if apiCode(err) != "SignatureDoesNotMatch" || !strings.Contains(err.Error(), "Signature not yet current") {
		t.Fatalf("server behind: %v", err)
	}
}

func TestECRPublic(t *testing.T) {
	s, u := newAWS(t)
	c := ecrpublic.New(ecrpublic.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()), Credentials: creds(u.AccessKeyID, u.SecretAccessKey, "")})
	out, err := c.GetAuthorizationToken(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.AuthorizationData == nil || out.AuthorizationData.ExpiresAt == nil || time.Until(*out.AuthorizationData.ExpiresAt) < 11*time.Hour {
		t.Fatalf("public token %+v", out.AuthorizationData)
	}
	if got := s.Counts(); got.PublicGetAuthorizationToken != 1 || got.GetAuthorizationToken != 0 {
		t.Errorf("counts %+v", got)
	}
}

// TestWireFormat reads the raw bytes the SDK would parse, to pin the details
// a lenient parser would hide.
func TestWireFormat(t *testing.T) {
	s, u := newAWS(t)
	post := func(body, target, service string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/", strings.NewReader(body))
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: u.AccessKeyID, SecretAccessKey: u.SecretAccessKey},
			req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := post("{}", "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken", "ecr")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header)
	}
	if !regexp.MustCompile(`"expiresAt":\d\.\d+E9[,}]`).MatchString(body) {
		t.Errorf("expiresAt is not a JSON number in ECR's notation: %s", body[strings.Index(body, "expiresAt")-1:])
	}
	resp, body = post(`{"repositoryNames":["nope"]}`, "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories", "ecr")
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-Errortype") != "RepositoryNotFoundException" ||
		!strings.HasPrefix(body, `{"__type":"RepositoryNotFoundException","message":"The repository with name 'nope' does not exist in the registry with id '111122223333'"`) {
		t.Errorf("ECR error: %d %s %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = post("Action=AssumeRole&Version=2011-06-15&RoleArn="+roleARN+"&RoleSessionName=s1", "", "sts")
	want := `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: ` + userARN + ` is not authorized to perform: sts:AssumeRole on resource: ` + roleARN + `</Message></Error><RequestId>` + resp.Header.Get("X-Amzn-Requestid") + `</RequestId></ErrorResponse>`
	if resp.StatusCode != 403 || !strings.HasSuffix(body, want) {
		t.Errorf("STS error: %d\n%s\nwant suffix\n%s", resp.StatusCode, body, want)
	}
	resp, body = post("Action=GetCallerIdentity&Version=2011-06-15", "", "sts")
	if resp.StatusCode != 200 || !strings.Contains(body, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><UserId>`) {
		t.Errorf("STS answer: %s", body)
	}
	// Signed for the wrong service.
	resp, body = post("Action=GetCallerIdentity&Version=2011-06-15", "", "ecr")
	if resp.StatusCode != 403 || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
		t.Errorf("wrong service scope: %d %s", resp.StatusCode, body)
	}
	// Unsigned.
	r2, err := http.Post(s.URL()+"/", "application/x-www-form-urlencoded", bytes.NewBufferString("Action=GetCallerIdentity&Version=2011-06-15"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 403 || !strings.Contains(string(b), "<Code>MissingAuthenticationToken</Code>") {
		t.Errorf("unsigned: %d %s", r2.StatusCode, b)
	}
}

// TestConcurrentCallers runs many SDK callers at once (run with -race).
func TestConcurrentCallers(t *testing.T) {
	s, u := newAWS(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Go(func() {
			out, err := stsClient(s, creds(u.AccessKeyID, u.SecretAccessKey, "")).AssumeRole(context.Background(),
				&sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("parallel"), ExternalId: aws.String(extID)})
			if err != nil {
				errs <- err
				return
			}
			c := out.Credentials
			if _, err := ecrClient(s, creds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)).GetAuthorizationToken(context.Background(), nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Counts(); got.AssumeRole != 32 || got.GetAuthorizationToken != 32 {
		t.Errorf("counts %+v", got)
	}
	s.Reset()
	if got := s.Counts(); got != (standin.Counts{}) {
		t.Errorf("after Reset: %+v", got)
	}
}

// TestARetryIsOneCall: the SDK retries an attempt whose answer broke off
// mid-body (as a loaded machine's loopback did in CI), under the same
// amz-sdk-invocation-id. That is one call of the caller's: Counts, which the
// "one AssumeRole, one GetAuthorizationToken" assertions read, counts it
// once, as does Calls; Attempts sees both requests. A second call of the
// caller's still counts.
func TestARetryIsOneCall(t *testing.T) {
	s, u := newAWS(t)
	fast := func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	}
	broken := &breakFirstBody{base: http.DefaultTransport}
	c := ecrClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""), func(o *ecr.Options) {
		o.Retryer = retry.NewStandard(fast)
		o.HTTPClient = &http.Client{Transport: broken}
	})
	for call := 1; call <= 2; call++ {
		if _, err := c.GetAuthorizationToken(context.Background(), nil); err != nil {
			t.Fatalf("call %d: %v", call, err)
		}
		got, asked, att := s.Counts().GetAuthorizationToken, s.Calls().GetAuthorizationToken, s.Attempts().GetAuthorizationToken
		if got != int64(call) || asked != int64(call) || att != int64(call+1) {
			t.Errorf("after call %d: counted %d, calls %d, attempts %d; want %d, %d and %d", call, got, asked, att, call, call, call+1)
		}
	}
	if broken.broke != 1 {
		t.Fatalf("the transport broke %d answers, want 1: the test did not test a retry", broken.broke)
	}
}

// breakFirstBody breaks the first answer's body after its headers, as a
// connection closed mid-answer does.
type breakFirstBody struct {
	base  http.RoundTripper
	mu    sync.Mutex
	broke int
}

func (b *breakFirstBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.broke == 0 {
		b.broke++
		resp.Body.Close()
		resp.Body = io.NopCloser(io.MultiReader(strings.NewReader("{"), iotest.ErrReader(&net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed})))
	}
	return resp, nil
}
