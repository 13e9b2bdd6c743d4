package plugincmd

import (
	"fmt"
	"io"
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/iampolicy"
)

func newPolicyWatch(dockerCli command.Cli) *cobra.Command {
	var queueARN string
	cmd := &cobra.Command{
		Use:   "watch --queue-arn ARN",
		Short: "Identity policy for the principal `watch --queue` reads the queue as",
		Long: `Print the identity policy that lets a principal consume the queue as
` + "`docker currents watch --queue`" + ` does: sqs:ReceiveMessage, sqs:DeleteMessage,
sqs:GetQueueAttributes and sqs:GetQueueUrl on exactly that queue. Attach it to
the host's own principal (instance or task role, or user), which reads the
queue unless a currents.yaml entry has the queue's account: then attach it to
that entry's role.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := iampolicy.ParseQueueARN(queueARN)
			if err != nil {
				return fmt.Errorf("--queue-arn: %w", err)
			}
			_, err = dockerCli.Out().Write(iampolicy.WatchConsumer(q).JSON())
			return err
		},
	}
	cmd.Flags().StringVar(&queueARN, "queue-arn", "", "ARN of the watch's SQS queue (arn:aws:sqs:REGION:ACCOUNT:NAME)")
	_ = cmd.MarkFlagRequired("queue-arn")
	return cmd
}

func newPolicyEvents(dockerCli command.Cli) *cobra.Command {
	var (
		p      policyFlags
		queues []string
		rule   string
		only   string
	)
	cmd := &cobra.Command{
		Use:   "events --queue-arn ARN [--queue-arn ARN...] [OPTIONS]",
		Short: "EventBridge rule pattern for the stack's ECR pushes, and each watch queue's policy",
		Long: `Print the EventBridge event pattern that matches successful pushes to the
stack's repositories (seed 003's pattern, narrowed to them), then for each
--queue-arn the queue policy that lets events.amazonaws.com send to it for that
rule only (aws:SourceArn). The rule belongs in the account and region that own
the repositories: ECR emits push events there. Its targets are the queues,
with no RoleArn; a queue in another account needs only its queue policy.

Each message goes to one consumer: give every host its own queue and list
them all, one --queue-arn each (the rule can target up to five; beyond, fan
out through an SNS topic). --only pattern or --only queue-policy prints one
kind, for file:// use with the aws CLI; the commands go to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if only != "" && only != "pattern" && only != "queue-policy" {
				return fmt.Errorf("--only %q: use pattern or queue-policy", only)
			}
			var qs []iampolicy.Queue
			for _, a := range queues {
				q, err := iampolicy.ParseQueueARN(a)
				if err != nil {
					return fmt.Errorf("--queue-arn: %w", err)
				}
				qs = append(qs, q)
			}
			repos, err := p.repositories(cmd.Context(), dockerCli.Err())
			if err != nil {
				return err
			}
			e, err := iampolicy.ForEvents(repos, rule, qs)
			if err != nil {
				return err
			}
			printEventsSteps(dockerCli.Err(), e)
			out := dockerCli.Out()
			if only != "queue-policy" {
				if _, err := out.Write(e.Pattern.JSON()); err != nil {
					return err
				}
			}
			if only != "pattern" {
				for _, d := range e.QueuePolicies {
					if _, err := out.Write(d.JSON()); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	p.add(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&queues, "queue-arn", nil, "ARN of a watch's SQS queue (repeatable: one queue per host)")
	f.StringVar(&rule, "rule-name", "currents-watch", "Name of the EventBridge rule")
	f.StringVar(&only, "only", "", "Print only the pattern or the queue policies")
	return cmd
}

// printEventsSteps says, on stderr, how the documents become a rule.
func printEventsSteps(w io.Writer, e iampolicy.Events) {
	fmt.Fprintf(w, "In account %s, region %s (where the repositories are, so their push events are):\n", e.Account, e.Region)
	fmt.Fprintf(w, "  aws events put-rule --region %s --name %s --event-pattern file://pattern.json\n", e.Region, e.RuleName)
	var targets []string
	for i, q := range e.Queues {
		targets = append(targets, fmt.Sprintf("Id=%d,Arn=%s", i+1, q.ARN()))
	}
	fmt.Fprintf(w, "  aws events put-targets --region %s --rule %s --targets %s\n", e.Region, e.RuleName, strings.Join(targets, " "))
	fmt.Fprintln(w, "Then give each queue its policy (the documents after the pattern, in --queue-arn order), in the queue's own account:")
	for _, q := range e.Queues {
		fmt.Fprintf(w, "  %s: aws sqs set-queue-attributes --region %s --queue-url https://sqs.%s.amazonaws.com/%s/%s --attributes file://attributes.json   # {\"Policy\": \"<the document, as a JSON string>\"}\n",
			q.Name, q.Region, q.Region, q.Account, q.Name)
	}
	fmt.Fprintln(w, "Give each queue a dead-letter queue too (RedrivePolicy, maxReceiveCount 5): a message watch cannot read is then set aside, not retried forever.")
}
