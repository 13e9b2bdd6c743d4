package standin_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/currentsdev/currents/internal/standin"
)

// A test's usual set-up: a source user, the vendor's role, a registry front;
// point the SDK (or a subprocess, via Env) at it and read the counters.
func Example() {
	fake := standin.New(standin.WithTokenLifetime(time.Hour))
	defer fake.Close()
	user := fake.AddUser("arn:aws:iam::111122223333:user/ops")
	fake.AddRole("arn:aws:iam::513558712013:role/currents-pull", standin.RoleSpec{ExternalID: "x", Trust: []string{user.ARN}})
	reg := standin.NewRegistry(fake)
	defer reg.Close()

	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(fake.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(user.AccessKeyID, user.SecretAccessKey, "")})
	_, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::513558712013:role/currents-pull"), RoleSessionName: aws.String("demo"), ExternalId: aws.String("x")})
	fmt.Println(err, fake.Counts().AssumeRole)
	// Output: <nil> 1
}
