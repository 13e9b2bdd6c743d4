// Package queue reads the SQS queue an EventBridge rule fills with ECR's
// "ECR Image Action" events: long polls, deletes, and the event inside each
// message. It talks SQS through aws-sdk-go-v2's own client.
//
// Whose credentials: the queue URL names an account. When a currents.yaml
// entry has that account, the queue is read with that entry's credentials
// (its profile, then its role), through the helper's own cache: the role
// session is the one `docker-credential-currents get` caches for that
// principal, renewed under the same lock and by the same policy. Otherwise
// the AWS SDK default chain is used (the host's own principal: environment,
// profile, instance or task role), which is the usual case: the queue lives
// in the customer's account, the vendor's rule sends to it.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/clock"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/tokencache"
)

// MaxWait is SQS's longest long poll.
const MaxWait = 20 * time.Second

// Message is one received message.
type Message struct {
	ID            string
	ReceiptHandle string
	Body          string
	// Receives is ApproximateReceiveCount: above 1, the message was
	// received before (by this watch before a restart, or by another
	// consumer of the same queue).
	Receives int
	Sent     time.Time
}

// Options configure Open.
type Options struct {
	Config *config.Config // currents.yaml; nil: none
	// Wait is the long poll (at most MaxWait, the default).
	Wait time.Duration
	// Visibility hides a received message from other receives for this long
	// (0: the queue's own VisibilityTimeout).
	Visibility time.Duration
	Log        *slog.Logger
	Clock      clock.Clock
}

// Client reads one queue.
type Client struct {
	url        URL
	sqs        *sqs.Client
	wait       time.Duration
	visibility time.Duration
	source     string
	creds      *aws.CredentialsCache
	session    *sessionProvider // nil with the default chain
}

// Open prepares a client for the queue at u (no request is made).
func Open(ctx context.Context, u URL, o Options) (*Client, error) {
	if o.Wait <= 0 || o.Wait > MaxWait {
		o.Wait = MaxWait
	}
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	timeout := config.DefaultTimeout
	if o.Config != nil {
		timeout = o.Config.Timeout
	}
	c := &Client{url: u, wait: o.Wait, visibility: o.Visibility, source: "the AWS SDK default credential chain"}
	target, entry := entryFor(o.Config, u)
	region := u.Region
	if region == "" && entry {
		region = target.Registry.Region
	}
	// The HTTP timeout bounds the whole request, long poll included.
	api := awsapi.New(awsapi.WithTimeout(o.Wait+timeout), awsapi.WithLogger(o.Log), awsapi.WithClock(o.Clock))
	var provider aws.CredentialsProvider
	if entry {
		cache, err := tokencache.Open(tokencache.WithClock(o.Clock), tokencache.WithLogger(o.Log))
		if err != nil {
			cache = tokencache.Disabled(err, tokencache.WithClock(o.Clock))
		}
		c.session = &sessionProvider{
			fetcher: &refresh.Fetcher{Cache: cache, AWS: awsapi.New(awsapi.WithTimeout(timeout), awsapi.WithLogger(o.Log), awsapi.WithClock(o.Clock)), Timeout: timeout, Log: o.Log},
			req:     refresh.Request{ServerURL: target.Registry.Host, Target: target, Identity: tokencache.IdentityFor(target, os.Getenv)},
		}
		c.creds = aws.NewCredentialsCache(c.session)
		provider = c.creds
		c.source = target.Where()
		if target.RoleARN() != "" {
			c.source += ", role " + target.RoleARN() + " (the helper's cached session)"
		}
	}
	cfg, err := api.SDKConfig(ctx, region, "", provider)
	if err != nil {
		return nil, fix.New(fmt.Errorf("queue %s: loading the AWS configuration: %w", u.Raw, err), "check AWS_PROFILE and ~/.aws/config")
	}
	if cfg.Region == "" {
		return nil, fix.New(fmt.Errorf("queue %s: its host names no region", u.Raw), "set AWS_REGION to the queue's region")
	}
	c.sqs = sqs.NewFromConfig(cfg, func(so *sqs.Options) {
		so.HTTPClient = awsapi.KeepAnswers(so.HTTPClient)
		if u.Endpoint != "" && os.Getenv("AWS_ENDPOINT_URL_SQS") == "" && so.BaseEndpoint == nil {
			so.BaseEndpoint = aws.String(u.Endpoint)
		}
	})
	return c, nil
}

// entryFor finds the currents.yaml entry whose account owns the queue.
func entryFor(cfg *config.Config, u URL) (config.Target, bool) {
	if cfg == nil {
		return config.Target{}, false
	}
	for _, host := range cfg.Hosts() {
		t, ok := cfg.Lookup(host)
		if ok && t.Entry != nil && t.Registry.Account == u.Account && !t.Registry.Public {
			return t, true
		}
	}
	return config.Target{}, false
}

// Credentials says whose credentials read the queue, for the log.
func (c *Client) Credentials() string { return c.source }

// URL is the queue.
func (c *Client) URL() URL { return c.url }

// Wait is the long poll of each receive.
func (c *Client) Wait() time.Duration { return c.wait }

// Attributes is what watch checks about the queue at start.
type Attributes struct {
	ARN               string
	VisibilityTimeout time.Duration
	// DeadLetterQueue and MaxReceiveCount come from the RedrivePolicy; empty
	// when the queue has none.
	DeadLetterQueue string
	MaxReceiveCount int
	Messages        int // ApproximateNumberOfMessages
}

// Attributes asks SQS about the queue (GetQueueAttributes).
func (c *Client) Attributes(ctx context.Context) (Attributes, error) {
	out, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(c.url.Raw),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn, types.QueueAttributeNameVisibilityTimeout,
			types.QueueAttributeNameRedrivePolicy, types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return Attributes{}, c.fail("GetQueueAttributes", err)
	}
	a := Attributes{ARN: out.Attributes["QueueArn"]}
	if v, err := strconv.Atoi(out.Attributes["VisibilityTimeout"]); err == nil {
		a.VisibilityTimeout = time.Duration(v) * time.Second
	}
	a.Messages, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	if rp := out.Attributes["RedrivePolicy"]; rp != "" {
		a.DeadLetterQueue, a.MaxReceiveCount = parseRedrive(rp)
	}
	return a, nil
}

// Receive long-polls for up to ten messages.
func (c *Client) Receive(ctx context.Context) ([]Message, error) {
	in := &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.url.Raw),
		MaxNumberOfMessages: 10,
		WaitTimeSeconds:     int32(c.wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp},
	}
	if c.visibility > 0 {
		in.VisibilityTimeout = int32(min(c.visibility, 12*time.Hour) / time.Second)
	}
	out, err := c.sqs.ReceiveMessage(ctx, in)
	if err != nil {
		return nil, c.fail("ReceiveMessage", err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body)}
		msg.Receives, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
			msg.Sent = time.UnixMilli(ms)
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Delete removes a handled (or deliberately ignored) message.
func (c *Client) Delete(ctx context.Context, m Message) error {
	_, err := c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.url.Raw), ReceiptHandle: aws.String(m.ReceiptHandle)})
	if err != nil {
		return c.fail("DeleteMessage", err)
	}
	return nil
}

// Error is a failed SQS call, with what to do about it.
type Error struct {
	Op, Queue, Code, Message, Hint string
	// Permanent errors (no queue, a refused permission) are the operator's
	// to fix; the rest (network, throttling, AWS's own faults) pass.
	Permanent bool
	// Credentials is the helper's failure to get the entry's credentials
	// (its role refused, its source missing): SQS was never asked.
	Credentials *awsapi.Error
	Err         error
}

func (e *Error) Error() string { return fix.Join(e.Problem(), e.Hint) }

// Problem is the failure without its fix.
func (e *Error) Problem() string {
	if e.Credentials != nil {
		return fmt.Sprintf("queue %s: no credentials to read it with (%s not sent): %s", e.Queue, e.Op, e.Credentials.Problem())
	}
	if e.Code != "" {
		return fmt.Sprintf("queue %s: %s failed: AWS said %s: %s", e.Queue, e.Op, e.Code, e.Message)
	}
	return fmt.Sprintf("queue %s: %s failed: %s", e.Queue, e.Op, e.Message)
}

// Fix is what to do about it.
func (e *Error) Fix() string   { return e.Hint }
func (e *Error) Unwrap() error { return e.Err }

func (c *Client) fail(op string, err error) error {
	e := &Error{Op: op, Queue: c.url.Raw, Message: err.Error(), Err: err}
	// The helper's own error comes first: an AccessDenied inside it is
	// STS's about the role, not SQS's about the queue.
	if errors.As(err, &e.Credentials) {
		e.Code, e.Message, e.Hint = e.Credentials.Code, e.Credentials.Message, e.Credentials.Hint
		e.Permanent = e.Credentials.Permanent()
		if e.Hint == "" {
			e.Hint = "a transient failure: watch retries with backoff"
		}
		return e
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
	}
	switch {
	case e.Code == "AWS.SimpleQueueService.NonExistentQueue":
		e.Permanent, e.Hint = true, "check --queue (aws sqs get-queue-url --queue-name NAME) and the region"
	case awsapi.Denied(e.Code):
		e.Permanent = true
		e.Hint = fmt.Sprintf("allow sqs:%s on the queue for %s: `docker currents policy watch --queue-arn ARN` prints the policy", op, c.source)
	case awsapi.Rejected(e.Code):
		// A cached session AWS no longer takes: the next call assumes the
		// role again, as the helper does.
		if c.session != nil {
			c.session.force.Store(true)
			c.creds.Invalidate()
		}
		e.Hint = "AWS refused the credentials (" + c.source + "); they are renewed on the next attempt"
	default:
		e.Hint = "a transient failure: watch retries with backoff"
	}
	return e
}

// sessionProvider hands the SDK the helper's cached role session.
type sessionProvider struct {
	fetcher *refresh.Fetcher
	req     refresh.Request
	force   atomic.Bool
}

func (p *sessionProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	s, err := p.fetcher.Session(ctx, p.req, p.force.Swap(false))
	if err != nil {
		return aws.Credentials{}, err
	}
	ac := aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey.Reveal(), SessionToken: s.SessionToken.Reveal(),
		Source: "currents cache"}
	if !s.Expires.IsZero() {
		// Ask again when the helper's policy would renew it.
		ac.CanExpire, ac.Expires = true, credential.RefreshAt(s.Issued, s.Expires)
	}
	return ac, nil
}

// parseRedrive reads a RedrivePolicy attribute; maxReceiveCount comes as a
// number or a string, depending on who set it.
func parseRedrive(raw string) (dlq string, maxReceives int) {
	var rp struct {
		DeadLetterTargetARN string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if json.Unmarshal([]byte(raw), &rp) != nil {
		return "", 0
	}
	n, _ := strconv.Atoi(strings.Trim(string(rp.MaxReceiveCount), `"`))
	return rp.DeadLetterTargetARN, n
}
