// Package process runs the stand-in as a long-lived process for the demo and
// the end-to-end scripts: STS + ECR on one port, the registry front on
// another, an env file that points tools at them, and the HTTP control API.
package process

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/atomicfile"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
)

// Config is what the process serves.
type Config struct {
	Addr            string        // STS + ECR + control API listen address
	RegistryAddr    string        // registry front listen address
	Upstream        string        // registry behind the front; empty: in memory
	Account         string        // account of the role and the registry
	Region          string        // region of the registry
	UserARN         string        // the source user whose key goes in the env file
	Roles           []string      // role ARNs the user may assume
	ExternalID      string        // required by every role, if set
	MaxSession      time.Duration // roles' MaxSessionDuration
	TokenLifetime   time.Duration // ECR token lifetime
	WebIdentityFile string        // if set: write a web identity token here, accepted by every role
	RequireRepos    bool          // refuse pushes to repositories not created
	Seed            string        // if set, PREFIX:TAG: push the six-service stack there at start
	EnvFile         string        // where to write the env file (0600)
	Latency         time.Duration // added to every STS/ECR answer
	RegistryLatency time.Duration // added to every registry front answer
	Queue           string        // if set: an SQS queue of the user's account fed with the registry's ECR events
	OIDC            oidcConfig    // OIDC providers, trust-policy roles, a GitHub job
}

// RegisterFlags binds c's fields to flags on fs, with defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:0", "listen address of the STS/ECR endpoint and the /_standin/ control API")
	fs.StringVar(&c.RegistryAddr, "registry-addr", "127.0.0.1:0", "listen address of the ECR-auth registry front")
	fs.StringVar(&c.Upstream, "upstream", "", "URL of the registry behind the front (default: in-memory registry)")
	fs.StringVar(&c.Account, "account", "513558712013", "AWS account of the role and the registry")
	fs.StringVar(&c.Region, "region", "us-east-1", "AWS region")
	fs.StringVar(&c.UserARN, "user", "arn:aws:iam::111122223333:user/ops", "ARN of the source IAM user written to the env file")
	fs.Func("role", "role ARN the user may assume (repeatable; default arn:aws:iam::ACCOUNT:role/currents-pull)", func(v string) error {
		c.Roles = append(c.Roles, v)
		return nil
	})
	fs.StringVar(&c.ExternalID, "external-id", "", "external ID the roles require (default: none)")
	fs.DurationVar(&c.MaxSession, "max-session", time.Hour, "roles' MaxSessionDuration")
	fs.DurationVar(&c.TokenLifetime, "token-lifetime", standin.DefaultTokenLifetime, "lifetime of ECR authorization tokens")
	fs.StringVar(&c.WebIdentityFile, "web-identity-token-file", "", "write a web identity token here that every role accepts")
	fs.BoolVar(&c.RequireRepos, "require-repositories", false, "refuse pushes to repositories not created with CreateRepository, as ECR does")
	fs.StringVar(&c.Seed, "seed", "", "PREFIX:TAG: push the six-service stack (random images) under PREFIX at start")
	fs.DurationVar(&c.Latency, "latency", 0, "delay added to every STS/ECR answer")
	fs.DurationVar(&c.RegistryLatency, "registry-latency", 0, "delay added to every registry front answer")
	fs.StringVar(&c.Queue, "queue", "", "create SQS queue NAME (and NAME-dlq, maxReceiveCount 5) in the user's account, fed by an EventBridge rule with every ECR image action of -account")
	c.registerOIDCFlags(fs)
	fs.StringVar(&c.EnvFile, "env-file", "", "write endpoints and the source user's credentials here as KEY=value lines (mode 0600)")
}

// Run serves until ctx is done, then removes the env file and stops.
func Run(ctx context.Context, c Config, log io.Writer) error {
	c.defaults()
	if len(c.Roles) == 0 {
		c.Roles = []string{"arn:aws:iam::" + c.Account + ":role/currents-pull"}
	}
	aws, err := standin.Start(standin.WithAddr(c.Addr), standin.WithAccount(c.Account), standin.WithRegion(c.Region), standin.WithTokenLifetime(c.TokenLifetime), standin.WithLatency(c.Latency))
	if err != nil {
		return err
	}
	defer aws.Close()
	ropts := []standin.Option{standin.WithAddr(c.RegistryAddr), standin.WithLatency(c.RegistryLatency)}
	if c.Upstream != "" {
		ropts = append(ropts, standin.WithUpstream(c.Upstream))
	}
	if c.RequireRepos {
		ropts = append(ropts, standin.WithRequireRepositories())
	}
	reg, err := standin.StartRegistry(aws, ropts...)
	if err != nil {
		return err
	}
	defer reg.Close()

	user := aws.AddUser(c.UserARN)
	var webToken string
	if c.WebIdentityFile != "" {
		webToken = "standin." + strconv.FormatInt(time.Now().UnixNano(), 36) + "." + user.AccessKeyID[4:]
		if err := atomicfile.WriteFile(c.WebIdentityFile, []byte(webToken), 0o600); err != nil {
			return fmt.Errorf("writing the web identity token file: %w", err)
		}
	}
	for _, arn := range c.Roles {
		aws.AddRole(arn, standin.RoleSpec{ExternalID: c.ExternalID, MaxSession: c.MaxSession, WebIdentityToken: webToken})
	}
	if c.Queue != "" {
		if err := routeQueue(aws, user, c.Queue); err != nil {
			return err
		}
	}
	jobEnv, err := setupOIDC(aws, c)
	if err != nil {
		return err
	}
	if c.Seed != "" {
		prefix, tag, ok := strings.Cut(c.Seed, ":")
		if !ok || prefix == "" || tag == "" {
			return fmt.Errorf("-seed %q: want PREFIX:TAG, e.g. currents/on-prem:staging", c.Seed)
		}
		if _, err := seed.Stack(ctx, reg, prefix, tag); err != nil {
			return err
		}
	}
	if c.EnvFile != "" {
		if err := atomicfile.WriteFile(c.EnvFile, append(EnvFile(aws, reg, user, c), envLines(jobEnv)...), 0o600); err != nil {
			return fmt.Errorf("writing the env file: %w", err)
		}
		defer os.Remove(c.EnvFile)
	}
	fmt.Fprintf(log, "currents-standin: STS/ECR at %s, registry front at %s (%s), control at %s/_standin/\n",
		aws.URL(), reg.Host(), upstreamName(c.Upstream), aws.URL())
	<-ctx.Done()
	fmt.Fprintln(log, "currents-standin: stopping")
	return nil
}

// defaults fills what a zero Config leaves empty, so Run never listens
// beyond loopback nor mints tokens that are born expired.
func (c *Config) defaults() {
	or := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	or(&c.Addr, "127.0.0.1:0")
	or(&c.RegistryAddr, "127.0.0.1:0")
	or(&c.Account, "513558712013")
	or(&c.Region, "us-east-1")
	or(&c.UserARN, "arn:aws:iam::111122223333:user/ops")
	if c.TokenLifetime <= 0 {
		c.TokenLifetime = standin.DefaultTokenLifetime
	}
	if c.MaxSession <= 0 {
		c.MaxSession = time.Hour
	}
}

// routeQueue sets up what a customer sets up for watch: a queue in their own
// account with a dead-letter queue, and the vendor's rule sending it every
// ECR image action across accounts.
func routeQueue(aws *standin.Server, user standin.User, name string) error {
	dlq := aws.CreateQueue(name+"-dlq", standin.QueueOptions{Account: user.Account})
	q := aws.CreateQueue(name, standin.QueueOptions{Account: user.Account, DeadLetterQueue: aws.QueueARN(dlq), MaxReceiveCount: 5})
	_, err := aws.RouteECREvents(q)
	return err
}

func upstreamName(u string) string {
	if u == "" {
		return "in-memory registry"
	}
	return "proxy to " + u
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:+=@,%-]*$`)

// EnvFile renders the KEY=value lines that point tools at the stand-in. The
// values are shell-safe unquoted, so the file works with `set -a; . FILE`,
// compose's dotenv and docker --env-file alike.
func EnvFile(aws *standin.Server, reg *standin.Registry, user standin.User, c Config) []byte {
	var b strings.Builder
	b.WriteString("# written by currents-standin; holds a secret key: keep it 0600\n")
	lines := aws.Env(user)
	lines = append(lines,
		"STANDIN_URL="+aws.URL(),
		"STANDIN_REGISTRY="+reg.Host(),
		"STANDIN_ACCOUNT="+aws.Account(),
		"STANDIN_REGION="+aws.Region(),
		"STANDIN_USER_ARN="+user.ARN,
		"STANDIN_ROLE_ARN="+c.Roles[0],
		"STANDIN_EXTERNAL_ID="+c.ExternalID,
		"STANDIN_PID="+strconv.Itoa(os.Getpid()),
	)
	if c.WebIdentityFile != "" {
		lines = append(lines, "STANDIN_WEB_IDENTITY_TOKEN_FILE="+c.WebIdentityFile)
	}
	if c.Queue != "" {
		q := aws.URL() + "/" + user.Account + "/" + c.Queue
		lines = append(lines, "STANDIN_QUEUE_URL="+q, "STANDIN_QUEUE_ARN="+aws.QueueARN(q))
	}
	b.Write(envLines(lines))
	return []byte(b.String())
}

// envLines renders KEY=value lines shell-safe.
func envLines(lines []string) []byte {
	var b strings.Builder
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		if !shellSafe.MatchString(v) {
			v = "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
		}
		b.WriteString(k + "=" + v + "\n")
	}
	return []byte(b.String())
}
