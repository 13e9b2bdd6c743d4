package credhelpercmd

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/currentsdev/currents/internal/configure"
	"github.com/currentsdev/currents/internal/product"
)

type configureOptions struct {
	req            configure.Request
	externalIDFile string
	warnings       []string // the command line's own, said with the run's
}

func newConfigureCmd(a *App) *cobra.Command {
	var o configureOptions
	var repeated func() error
	cmd := &cobra.Command{
		Use:   "configure --registry HOST --role-arn ARN [flags]",
		Short: "set up a registry: its role in currents.yaml and the credHelpers entry in docker's config.json",
		Long: `configure writes (or updates) the registry's entry in currents.yaml and registers
"credHelpers": {HOST: "currents"} in docker's config.json ($DOCKER_CONFIG, else ~/.docker).

The entry becomes exactly what the flags say, except its external_id: a run that gives none
(--external-id-file, --external-id) keeps the entry's ("kept external_id"), unless
--no-external-id removes it (so does --web-identity, which takes none). Both files are replaced atomically, keep their
mode and every other setting, and the previous version is kept as <file>.bak. Running the same
command again changes nothing. --print shows what would change and writes nothing.`,
		Example: `  docker-credential-currents configure \
    --registry 513558712013.dkr.ecr.us-east-1.amazonaws.com \
    --role-arn arn:aws:iam::513558712013:role/customer-pull --external-id-file ~/vendor-external-id

  # in a GitHub Actions job with permissions: id-token: write (no keys, no docker login):
  docker-credential-currents configure --registry HOST --role-arn ARN --web-identity github-actions

  # the external ID from stdin, so it never shows in ps:
  printf '%s' "$EXTERNAL_ID" | docker-credential-currents configure --registry HOST --role-arn ARN --external-id-file -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := repeated(); err != nil {
				return err
			}
			if err := o.externalID(cmd, a.In); err != nil {
				return err
			}
			res, err := configure.Run(o.req)
			if err != nil {
				return err
			}
			res.Warnings = append(o.warnings, res.Warnings...)
			renderConfigure(a.Out, a.Err, res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.req.Spec.Host, "registry", "", "registry host, as in image references (an ECR hostname, or an alias with --account and --region)")
	f.StringVar(&o.req.Spec.RoleARN, "role-arn", "", "IAM role to assume (the vendor gives you this)")
	f.StringVar(&o.req.Spec.ExternalID, "external-id", "", "external ID the role's trust policy requires (visible in ps: prefer --external-id-file)")
	f.StringVar(&o.externalIDFile, "external-id-file", "", "read the external ID from this file (its first line), or from stdin with -, keeping it out of the process list")
	f.BoolVar(&o.req.DropExternalID, "no-external-id", false, "remove the entry's external_id (without it, a run that gives none keeps the entry's)")
	f.StringVar(&o.req.Spec.Profile, "profile", "", "AWS profile holding the source credentials (default: the AWS SDK default chain)")
	f.StringVar(&o.req.Spec.Region, "region", "", "ECR region (only for an alias host; derived from ECR hostnames)")
	f.StringVar(&o.req.Spec.Account, "account", "", "ECR account ID (only for an alias host; derived from ECR hostnames)")
	f.StringVar(&o.req.Spec.WebIdentityTokenFile, "web-identity-token-file", "", "OIDC token file: assume the role with web identity")
	f.StringVar(&o.req.Spec.WebIdentity, "web-identity", "", "assume the role with the CI job's own OIDC token: github-actions or circleci (kubernetes: the kubelet's service-account token)")
	f.StringVar(&o.req.Spec.WebIdentityAudience, "web-identity-audience", "", "audience to ask GitHub for (default sts.amazonaws.com; github-actions only)")
	f.StringVar(&o.req.Spec.SessionName, "session-name", "", "role session name shown in CloudTrail (default: currents-<hostname>)")
	f.StringVar(&o.req.Spec.Duration, "duration", "", "role session duration, 15m to 12h (default: 1h)")
	f.BoolVar(&o.req.DryRun, "print", false, "show what would change, write nothing")
	f.BoolVar(&o.req.RemoveStaleAuth, "remove-stale-auth", false, `remove the registry's static "auths" entry (an old docker login) from config.json`)
	_ = cmd.MarkFlagRequired("registry")
	_ = cmd.MarkFlagRequired("role-arn")
	repeated = countValues(f)
	return cmd
}

// counted is a flag's value that counts how often it was given: pflag keeps the last of a repeated string
// silently, so `--registry A --registry B` would configure B alone.
type counted struct {
	pflag.Value
	n int
}

func (c *counted) Set(s string) error { c.n++; return c.Value.Set(s) }

// countValues makes fs's string flags count their values; the function it returns is a usage error naming
// the first flag given more than once (never its values: one may be the external ID).
func countValues(fs *pflag.FlagSet) func() error {
	var all []*pflag.Flag
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "string" {
			f.Value = &counted{Value: f.Value}
			all = append(all, f)
		}
	})
	return func() error {
		for _, f := range all {
			if n := f.Value.(*counted).n; n > 1 {
				return fmt.Errorf("--%s given %d times: configure sets up one registry a run, with one value of each flag; give --%s once (run configure once for each registry)", f.Name, n, f.Name)
			}
		}
		return nil
	}
}

// externalID takes the external ID from --external-id-file, or checks --external-id, and refuses
// contradictory flags. An ID given with --external-id is in argv, so ps shows it to every user: a warning
// (never the value) says so.
func (o *configureOptions) externalID(cmd *cobra.Command, in io.Reader) error {
	given := cmd.Flags().Changed("external-id")
	switch {
	case o.externalIDFile != "" && given:
		return errors.New("--external-id and --external-id-file: give one of them")
	case o.req.DropExternalID && (given || o.externalIDFile != ""):
		return errors.New("--no-external-id removes the external ID: give it without --external-id and --external-id-file")
	case given && o.req.Spec.ExternalID == "":
		return errors.New("--external-id is empty: to remove the entry's external_id, use --no-external-id")
	case given:
		o.warnings = append(o.warnings, "--external-id puts the external ID in this command's argv, where ps shows it to every user of this machine (and shell history keeps it): "+
			"use --external-id-file FILE, or --external-id-file - with the ID on stdin")
	case o.externalIDFile != "":
		id, err := configure.ReadExternalID(in, o.externalIDFile)
		if err != nil {
			return fmt.Errorf("--external-id-file: %w", err)
		}
		o.req.Spec.ExternalID = id
	}
	return nil
}

// renderConfigure says what configure changed, one line per file, then the warnings.
func renderConfigure(out, errOut io.Writer, res *configure.Result) {
	if res.DryRun {
		for _, f := range []configure.File{res.Config, res.Docker} {
			if f.Diff == "" {
				fmt.Fprintf(out, "%s: no change\n", f.Path)
			} else {
				io.WriteString(out, f.Diff)
			}
		}
		externalIDNote(out, res)
		writeWarnings(errOut, res.Warnings)
		fmt.Fprintln(out, "(--print: nothing was written)")
		return
	}
	if res.Config.Changed {
		fmt.Fprintf(out, "%s: entry for %s written%s\n", res.Config.Path, res.Host, backupNote(res.Config.Backup))
	} else {
		fmt.Fprintf(out, "%s: entry for %s already up to date\n", res.Config.Path, res.Host)
	}
	externalIDNote(out, res)
	if m := res.Config.Tightened; m != 0 {
		fmt.Fprintf(out, "%s: mode changed from %04o to %04o: it holds the external ID, which only its owner may read\n", res.Config.Path, m.Perm(), m.Perm()&0o600)
	}
	helper := "docker-credential-" + product.HelperName
	switch d := res.Docker; {
	case !d.Changed:
		fmt.Fprintf(out, "%s: credHelpers already sends %s to %s\n", d.Path, res.Host, helper)
	case res.PreviousHelper != "":
		fmt.Fprintf(out, "%s: credHelpers for %s changed from %q to %q%s\n", d.Path, res.Host, res.PreviousHelper, product.HelperName, backupNote(d.Backup))
	default:
		fmt.Fprintf(out, "%s: credHelpers sends %s to %s%s\n", d.Path, res.Host, helper, backupNote(d.Backup))
	}
	if res.RemovedStale {
		fmt.Fprintf(out, "%s: removed the static login for %s\n", res.Docker.Path, res.Host)
		// The entry was only a marker: the secret itself sits in the credential store, which docker no
		// longer asks for this host (credHelpers wins), so `docker logout` cannot reach it either.
		if res.CredsStore != "" {
			for _, s := range res.Stale {
				if !s.HasSecret {
					fmt.Fprintf(errOut, "note: the login's secret stays in credsStore %q; erase it with: printf %%s %q | docker-credential-%s erase\n", res.CredsStore, s.Key, res.CredsStore)
				}
			}
		}
	}
	writeWarnings(errOut, res.Warnings)
	fmt.Fprintf(out, "next: %s doctor --registry %s\n", product.HelperCommand, res.Host)
}

// externalIDNote says what became of an external_id the run did not give; never its value.
func externalIDNote(out io.Writer, res *configure.Result) {
	switch res.ExternalID {
	case configure.ExternalIDKept:
		fmt.Fprintf(out, "%s: kept external_id for %s (--no-external-id removes it)\n", res.Config.Path, res.Host)
	case configure.ExternalIDRemoved:
		fmt.Fprintf(out, "%s: removed external_id for %s\n", res.Config.Path, res.Host)
	}
}

func writeWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintln(w, "warning: "+s)
	}
}

func backupNote(backup string) string {
	if backup == "" {
		return ""
	}
	return " (previous version: " + backup + ")"
}
