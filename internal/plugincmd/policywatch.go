package plugincmd

import (
	"encoding/json"
	"errors"
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
			if queueARN == "" {
				return usageError(errors.New("--queue-arn is required: the ARN of the watch's queue (arn:aws:sqs:REGION:ACCOUNT:NAME)"))
			}
			q, err := iampolicy.ParseQueueARN(queueARN)
			if err != nil {
				return usageError(fmt.Errorf("--queue-arn: %w", err))
			}
			_, err = dockerCli.Out().Write(iampolicy.WatchConsumer(q).JSON())
			return err
		},
	}
	cmd.Flags().StringVar(&queueARN, "queue-arn", "", "ARN of the watch's SQS queue (arn:aws:sqs:REGION:ACCOUNT:NAME)")
	return cmd
}

func newPolicyEvents(dockerCli command.Cli) *cobra.Command {
	var (
		p      policyFlags
		queues []string
		rule   string
		role   string
		only   string
	)
	cmd := &cobra.Command{
		Use:   "events --queue-arn ARN [--queue-arn ARN...] [OPTIONS]",
		Short: "EventBridge rule pattern for the stack's ECR pushes, and each watch queue's policy",
		Long: `Print the EventBridge event pattern that matches successful pushes to the
stack's repositories (seed 003's pattern, narrowed to them), then for each
--queue-arn the queue policy that lets the rule send to it. The rule belongs
in the account and region that own the repositories: ECR emits push events
there, and EventBridge sends to SQS queues in the rule's own Region only.

A queue in the rule's account is its target with no RoleArn, and its policy
lets events.amazonaws.com send for that rule only (aws:SourceArn). A queue in
another account (AWS's cross-account targets, same Region) is reached through
an execution role of the rule's account: give it with --execution-role-arn;
the queue's policy then lets that role send, and a last document is the
role's own policy (sqs:SendMessage on those queues).

Each message goes to one consumer: give every host its own queue and list
them all, one --queue-arn each (a rule has at most five targets; beyond, fan
out through an SNS topic). --only pattern, queue-policy or execution-role
prints one kind, for file:// use with the aws CLI (--only pattern needs no
queue); the commands go to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			qs, err := eventsQueues(queues, only)
			if err == nil {
				err = iampolicy.ValidateRuleName(rule)
			}
			if err != nil {
				return usageError(err)
			}
			if only == "pattern" {
				role = "" // as the queues: the pattern alone needs none
			}
			repos, err := p.repositories(cmd.Context(), dockerCli.Err())
			if err != nil {
				return err
			}
			e, err := iampolicy.ForEvents(repos, rule, qs, role)
			if err != nil {
				return err
			}
			printEventsSteps(dockerCli.Err(), e)
			return writeEvents(dockerCli.Out(), e, only)
		},
	}
	p.add(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&queues, "queue-arn", nil, "ARN of a watch's SQS queue (repeatable, at most 5: one queue per host)")
	f.StringVar(&rule, "rule-name", "currents-watch", "Name of the EventBridge rule")
	f.StringVar(&role, "execution-role-arn", "", "Role of the rule's account that sends to queues in other accounts")
	f.StringVar(&only, "only", "", "Print only the pattern, the queue policies or the execution role's policy")
	return cmd
}

// eventsQueues reads events' --queue-arn flags; --only pattern needs none
// and takes none.
func eventsQueues(queues []string, only string) ([]iampolicy.Queue, error) {
	if only != "" && only != "pattern" && only != "queue-policy" && only != "execution-role" {
		return nil, fmt.Errorf("--only %q: use pattern, queue-policy or execution-role", only)
	}
	var qs []iampolicy.Queue
	for _, a := range queues {
		q, err := iampolicy.ParseQueueARN(a)
		if err != nil {
			return nil, fmt.Errorf("--queue-arn: %w", err)
		}
		qs = append(qs, q)
	}
	switch {
	case only == "pattern":
		// The pattern is the same whatever the targets; the vendor writes it before your queues exist.
		return nil, nil
	case len(qs) == 0:
		return nil, errors.New("--queue-arn is required: the ARN of each watch's queue (one queue per host)")
	}
	return qs, nil
}

// writeEvents prints the documents: the pattern, each queue's policy, the
// execution role's policy.
func writeEvents(out io.Writer, e iampolicy.Events, only string) error {
	var docs [][]byte
	if only == "" || only == "pattern" {
		docs = append(docs, e.Pattern.JSON())
	}
	if only == "" || only == "queue-policy" {
		for _, d := range e.QueuePolicies {
			docs = append(docs, d.JSON())
		}
	}
	if only == "" || only == "execution-role" {
		if e.ExecutionRolePolicy != nil {
			docs = append(docs, e.ExecutionRolePolicy.JSON())
		} else if only != "" {
			return errors.New("--only execution-role: every queue is in the rule's account, so the rule needs no execution role")
		}
	}
	for _, d := range docs {
		if _, err := out.Write(d); err != nil {
			return err
		}
	}
	return nil
}

// printEventsSteps says, on stderr, how the documents become a rule.
func printEventsSteps(w io.Writer, e iampolicy.Events) {
	fmt.Fprintf(w, "In account %s, region %s (where the repositories are, so their push events are):\n", e.Account, e.Region)
	fmt.Fprintf(w, "  aws events put-rule --region %s --name %s --event-pattern file://pattern.json\n", e.Region, e.RuleName)
	if len(e.Queues) == 0 {
		return
	}
	if e.ExecutionRole != "" {
		name := e.ExecutionRole[strings.LastIndex(e.ExecutionRole, "/")+1:]
		trust, _ := json.Marshal(iampolicy.ExecutionRoleTrust())
		fmt.Fprintf(w, "  aws iam create-role --role-name %s --assume-role-policy-document '%s'\n", name, trust)
		fmt.Fprintf(w, "  aws iam put-role-policy --role-name %s --policy-name currents-watch-send --policy-document file://execution-role.json   # the last document\n", name)
	}
	var targets []string
	for i, q := range e.Queues {
		t := fmt.Sprintf("Id=%d,Arn=%s", i+1, q.ARN())
		if e.CrossAccount(q) {
			t += ",RoleArn=" + e.ExecutionRole
		}
		targets = append(targets, t)
	}
	fmt.Fprintf(w, "  aws events put-targets --region %s --rule %s --targets %s\n", e.Region, e.RuleName, strings.Join(targets, " "))
	fmt.Fprintln(w, "Then give each queue its policy (the documents after the pattern, in --queue-arn order), in the queue's own account:")
	for _, q := range e.Queues {
		fmt.Fprintf(w, "  %s: aws sqs set-queue-attributes --region %s --queue-url https://sqs.%s.amazonaws.com/%s/%s --attributes file://attributes.json   # {\"Policy\": \"<the document, as a JSON string>\"}\n",
			q.Name, q.Region, q.Region, q.Account, q.Name)
	}
	fmt.Fprintln(w, "Give each queue a dead-letter queue too (RedrivePolicy, maxReceiveCount 5): a message watch cannot read is then set aside, not retried forever.")
}
