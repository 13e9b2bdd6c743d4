package awsapi

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// SDKConfig is the SDK configuration awsapi's own clients get (region, the
// timeout, retries with backoff, the clock-skew measurement, the SDK's logs
// routed to ours) for a client of another service: watch's SQS client, which
// the AWS binary must not link. creds nil means the SDK default chain (or
// profile). Give that client's HTTPClient to KeepAnswers.
func (c *Client) SDKConfig(ctx context.Context, region, profile string, creds aws.CredentialsProvider) (aws.Config, error) {
	var extra []func(*awsconfig.LoadOptions) error
	if creds != nil {
		extra = append(extra, awsconfig.WithCredentialsProvider(creds))
	}
	return c.load(ctx, region, profile, extra...)
}

// KeepAnswers wraps a service client's HTTP client as awsapi wraps its own
// (see keepAnswers): set it in the service's options function.
func KeepAnswers(d doer) doer {
	if d == nil {
		return nil
	}
	return readOnlyBodies{d}
}
