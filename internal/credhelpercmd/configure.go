package credhelpercmd

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/configure"
	"github.com/currentsdev/currents/internal/product"
)

type configureOptions struct {
	req            configure.Request
	externalIDFile string
}

func newConfigureCmd(a *App) *cobra.Command {
	var o configureOptions
	cmd := &cobra.Command{
		Use:   "configure --registry HOST --role-arn ARN [flags]",
		Short: "set up a registry: its role in currents.yaml and the credHelpers entry in docker's config.json",
		Long: `configure writes (or updates) the registry's entry in currents.yaml and registers
"credHelpers": {HOST: "currents"} in docker's config.json ($DOCKER_CONFIG, else ~/.docker).

The entry becomes exactly what the flags say. Both files are replaced atomically, keep their
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
			if o.externalIDFile != "" {
				if cmd.Flags().Changed("external-id") {
					return errors.New("--external-id and --external-id-file: give one of them")
				}
				id, err := configure.ReadExternalID(a.In, o.externalIDFile)
				if err != nil {
					return fmt.Errorf("--external-id-file: %w", err)
				}
				o.req.Spec.ExternalID = id
			}
			res, err := configure.Run(o.req)
			if err != nil {
				return err
			}
			renderConfigure(a.Out, a.Err, res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.req.Spec.Host, "registry", "", "registry host, as in image references (an ECR hostname, or an alias with --account and --region)")
	f.StringVar(&o.req.Spec.RoleARN, "role-arn", "", "IAM role to assume (the vendor gives you this)")
	f.StringVar(&o.req.Spec.ExternalID, "external-id", "", "external ID the role's trust policy requires (visible in ps: prefer --external-id-file)")
	f.StringVar(&o.externalIDFile, "external-id-file", "", "read the external ID from this file (its first line), or from stdin with -, keeping it out of the process list")
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
	return cmd
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
		writeWarnings(errOut, res.Warnings)
		fmt.Fprintln(out, "(--print: nothing was written)")
		return
	}
	if res.Config.Changed {
		fmt.Fprintf(out, "%s: entry for %s written%s\n", res.Config.Path, res.Host, backupNote(res.Config.Backup))
	} else {
		fmt.Fprintf(out, "%s: entry for %s already up to date\n", res.Config.Path, res.Host)
	}
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
