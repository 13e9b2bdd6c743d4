package standin_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// BenchmarkColdPath is the AWS half of a cold credential-helper get against
// the stand-in: AssumeRole then GetAuthorizationToken with the session, with
// real SigV4 on both sides. It bounds what the stand-in adds to the helper's
// cold-path figures.
func BenchmarkColdPath(b *testing.B) {
	s, u := newAWS(b)
	ctx := context.Background()
	stsc := stsClient(s, creds(u.AccessKeyID, u.SecretAccessKey, ""))
	in := &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("bench"), ExternalId: aws.String(extID)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := stsc.AssumeRole(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		c := out.Credentials
		if _, err := ecrClient(s, creds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)).GetAuthorizationToken(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
