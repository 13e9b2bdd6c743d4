package awsapi

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Issue 10, defect 15: with AWS refusing connections a get took 10-27 s of
// SDK retries. A refused connection or a failed DNS lookup is not going to
// succeed on the fifth try within a pull: one attempt, then the error.
func TestUnreachableAWSFailsWithoutRetries(t *testing.T) {
	_, tg, _ := setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	for name, tc := range map[string]struct{ endpoint, want string }{
		"refused":    {closed, "connection refused"},
		"dns failed": {"http://sts.nonexistent.invalid", "nonexistent.invalid"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_STS", tc.endpoint)
			c := New(WithTimeout(5 * time.Second))
			_, err := c.Credentials(context.Background(), tg)
			var exhausted *retry.MaxAttemptsError
			if errors.As(err, &exhausted) {
				t.Errorf("retried %d times: %v", exhausted.Attempt, err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}
