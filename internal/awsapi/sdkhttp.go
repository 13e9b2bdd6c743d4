package awsapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
)

// doer is the HTTP client every SDK service client takes.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

// keepAnswers is a ServiceOptions hook giving our STS, ECR and ECR Public
// clients an HTTP client that does not throw good answers away.
//
// net/http's Transport, once it has written a request body's ContentLength
// bytes, reads the body again to check that nothing is left. That last read
// can come after the server has answered (the headers and body went out
// before it, and the writing goroutine may not run for a while on a busy
// machine). By then smithy-go has closed the request body, since Do returned,
// and its closed body's WriteTo returns io.EOF instead of 0, nil. The Transport
// takes that for a failed write and closes the connection, under the
// deserializer still reading the answer: "StatusCode: 200 ... deserialization
// failed ... use of closed network connection", a retry, and AWS counts a
// second call (a second GetAuthorizationToken for one `docker pull`).
// Hiding WriteTo sends that read through Read, whose io.EOF after Close ends
// the check as "nothing left", as it should.
//
// It is set per service, after the SDK has tuned its own client (AWS_CA_BUNDLE,
// defaults mode, read timeouts), which it only does to the client type it
// built; wrapping aws.Config.HTTPClient would skip that tuning.
func keepAnswers(_ string, options any) {
	wrap := func(d doer) doer { return KeepAnswers(d) }
	switch o := options.(type) {
	case *sts.Options:
		o.HTTPClient = wrap(o.HTTPClient)
	case *ecr.Options:
		o.HTTPClient = wrap(o.HTTPClient)
	case *ecrpublic.Options:
		o.HTTPClient = wrap(o.HTTPClient)
	}
}

// readOnlyBodies passes requests on with a body that has only Read and Close.
type readOnlyBodies struct{ next doer }

func (c readOnlyBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return c.next.Do(r)
	}
	r2 := r.WithContext(r.Context()) // a shallow copy: the caller's request stays as it is
	r2.Body = readOnlyBody{r.Body}
	if get := r.GetBody; get != nil {
		r2.GetBody = func() (io.ReadCloser, error) {
			b, err := get()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return readOnlyBody{b}, nil
		}
	}
	return c.next.Do(r2)
}

// readOnlyBody hides every method of the body but Read and Close.
type readOnlyBody struct{ rc io.ReadCloser }

func (b readOnlyBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readOnlyBody) Close() error               { return b.rc.Close() }

// sdkLogger routes the SDK's own log lines into ours at debug. Left alone the
// SDK prints them raw on stderr ("SDK 2026/01/02 15:04:05 WARN ..."), in the
// middle of docker's output; they describe retries the SDK handles itself.
func sdkLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(cls logging.Classification, format string, v ...any) {
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug("aws sdk: "+fmt.Sprintf(format, v...), "sdk_level", string(cls))
		}
	})
}
