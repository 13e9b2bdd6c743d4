package credhelpercmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/atomicfile"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/product"
)

type configureOptions struct {
	spec            config.EntrySpec
	externalIDFile  string
	print           bool
	removeStaleAuth bool
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

  # the external ID from stdin, so it never shows in ps:
  printf '%s' "$EXTERNAL_ID" | docker-credential-currents configure --registry HOST --role-arn ARN --external-id-file -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.externalIDFile != "" {
				if cmd.Flags().Changed("external-id") {
					return errors.New("--external-id and --external-id-file: give one of them")
				}
				id, err := readSecretLine(a.In, o.externalIDFile)
				if err != nil {
					return fmt.Errorf("--external-id-file: %w", err)
				}
				o.spec.ExternalID = id
			}
			return runConfigure(a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.spec.Host, "registry", "", "registry host, as in image references (an ECR hostname, or an alias with --account and --region)")
	f.StringVar(&o.spec.RoleARN, "role-arn", "", "IAM role to assume (the vendor gives you this)")
	f.StringVar(&o.spec.ExternalID, "external-id", "", "external ID the role's trust policy requires (visible in ps: prefer --external-id-file)")
	f.StringVar(&o.externalIDFile, "external-id-file", "", "read the external ID from this file (its first line), or from stdin with -, keeping it out of the process list")
	f.StringVar(&o.spec.Profile, "profile", "", "AWS profile holding the source credentials (default: the AWS SDK default chain)")
	f.StringVar(&o.spec.Region, "region", "", "ECR region (only for an alias host; derived from ECR hostnames)")
	f.StringVar(&o.spec.Account, "account", "", "ECR account ID (only for an alias host; derived from ECR hostnames)")
	f.StringVar(&o.spec.WebIdentityTokenFile, "web-identity-token-file", "", "OIDC token file: assume the role with web identity (CI)")
	f.StringVar(&o.spec.SessionName, "session-name", "", "role session name shown in CloudTrail (default: currents-<hostname>)")
	f.StringVar(&o.spec.Duration, "duration", "", "role session duration, 15m to 12h (default: 1h)")
	f.BoolVar(&o.print, "print", false, "show what would change, write nothing")
	f.BoolVar(&o.removeStaleAuth, "remove-stale-auth", false, `remove the registry's static "auths" entry (an old docker login) from config.json`)
	_ = cmd.MarkFlagRequired("registry")
	_ = cmd.MarkFlagRequired("role-arn")
	return cmd
}

func runConfigure(a *App, o configureOptions) error {
	host, err := ecrhost.Normalize(o.spec.Host)
	if err != nil {
		return fmt.Errorf("--registry %q: %v", o.spec.Host, err)
	}
	yamlPath, err := dirs.Config()
	if err != nil {
		return err
	}
	oldYAML, err := os.ReadFile(yamlPath)
	yamlExisted := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	newYAML, err := config.Upsert(oldYAML, yamlPath, o.spec)
	if err != nil {
		return err
	}
	dcPath, err := dirs.DockerConfigFile("")
	if err != nil {
		return err
	}
	dc, err := dockerconfig.Load(dcPath)
	if err != nil {
		return err
	}
	previous, hadHelper := dc.CredHelper(host)
	if err := dc.SetCredHelper(host, product.HelperName); err != nil {
		return err
	}
	stale := dc.StaticAuths(host)
	if o.removeStaleAuth {
		if err := dc.RemoveAuth(host); err != nil {
			return err
		}
	}

	yamlChanged := !bytes.Equal(oldYAML, newYAML)
	if o.print {
		if yamlChanged {
			writeDiff(a.Out, yamlPath, oldYAML, newYAML)
		} else {
			fmt.Fprintf(a.Out, "%s: no change\n", yamlPath)
		}
		if dc.Changed() {
			writeDiff(a.Out, dcPath, dc.Original(), dc.Bytes())
		} else {
			fmt.Fprintf(a.Out, "%s: no change\n", dcPath)
		}
		warnStale(a.Err, dcPath, host, stale, o.removeStaleAuth)
		fmt.Fprintln(a.Out, "(--print: nothing was written)")
		return nil
	}

	// currents.yaml first: once credHelpers names us, docker's next pull already needs the entry.
	if yamlChanged {
		backup, err := atomicfile.Replace(yamlPath, oldYAML, yamlExisted, newYAML, 0o600)
		if err != nil {
			return fmt.Errorf("%s: %w", yamlPath, err)
		}
		fmt.Fprintf(a.Out, "%s: entry for %s written%s\n", yamlPath, host, backupNote(backup))
	} else {
		fmt.Fprintf(a.Out, "%s: entry for %s already up to date\n", yamlPath, host)
	}
	jsonChanged := dc.Changed()
	backup, err := dc.Save()
	if err != nil {
		if yamlChanged {
			// Half done is safe (docker does not yet send the host to us), but the user must know which half.
			return fmt.Errorf("%w\n%s was already updated; config.json was not changed, so docker does not use the helper for %s yet: "+
				"fix the problem above and run the same configure command again", err, yamlPath, host)
		}
		return err
	}
	switch {
	case !jsonChanged:
		fmt.Fprintf(a.Out, "%s: credHelpers already sends %s to docker-credential-%s\n", dcPath, host, product.HelperName)
	case hadHelper && previous != product.HelperName:
		fmt.Fprintf(a.Out, "%s: credHelpers for %s changed from %q to %q%s\n", dcPath, host, previous, product.HelperName, backupNote(backup))
	default:
		fmt.Fprintf(a.Out, "%s: credHelpers sends %s to docker-credential-%s%s\n", dcPath, host, product.HelperName, backupNote(backup))
	}
	if o.removeStaleAuth && len(stale) > 0 && jsonChanged {
		fmt.Fprintf(a.Out, "%s: removed the static login for %s\n", dcPath, host)
		// The entry was only a marker: the secret itself sits in the credential store, which docker no
		// longer asks for this host (credHelpers wins), so `docker logout` cannot reach it either.
		if store := dc.CredsStore(); store != "" {
			for _, s := range stale {
				if !s.HasSecret {
					fmt.Fprintf(a.Err, "note: the login's secret stays in credsStore %q; erase it with: printf %%s %q | docker-credential-%s erase\n", store, s.Key, store)
				}
			}
		}
	}
	warnStale(a.Err, dcPath, host, stale, o.removeStaleAuth)
	if _, err := exec.LookPath("docker-credential-" + product.HelperName); err != nil {
		fmt.Fprintf(a.Err, "warning: docker-credential-%s is not on PATH, so docker cannot run it; run `make install` or add its directory to PATH\n", product.HelperName)
	}
	fmt.Fprintf(a.Out, "next: docker-credential-%s doctor --registry %s\n", product.HelperName, host)
	return nil
}

func backupNote(backup string) string {
	if backup == "" {
		return ""
	}
	return " (previous version: " + backup + ")"
}

// warnStale explains a static `docker login` entry for a host the helper now serves. credHelpers wins for
// pulls, but docker still hands every "auths" entry to builds when a helper fails, and the entry keeps an old
// credential on disk.
func warnStale(w io.Writer, dcPath, host string, stale []dockerconfig.StaticAuth, removed bool) {
	if removed {
		return
	}
	for _, s := range stale {
		what := "a login stored in credsStore"
		if s.HasSecret {
			what = "a saved password"
		}
		if !s.Expiry.IsZero() {
			verb := "expires"
			if time.Now().After(s.Expiry) {
				verb = "expired"
			}
			what = fmt.Sprintf("an ECR token that %s %s", verb, s.Expiry.Local().Format(time.RFC3339))
		}
		fmt.Fprintf(w, "warning: %s still has a static \"auths\" entry %q for %s (%s). docker-credential-%s now serves %s, "+
			"so the entry is a leftover that builds may still send; remove it with --remove-stale-auth\n", dcPath, s.Key, host, what, product.HelperName, host)
	}
}

// secretLine matches lines whose value is a credential or confidential (config.json's logins, currents.yaml's
// external ID); diffs show them redacted.
var secretLine = regexp.MustCompile(`^(\s*(?:"(?:auth|password|identitytoken|registrytoken)"\s*:|(?:-\s+)?external_id\s*:)\s*)(?:"[^"]*"|\S.*)`)

// writeDiff prints a unified diff of one file with two lines of context, credentials redacted.
func writeDiff(w io.Writer, path string, before, after []byte) {
	redact := func(b []byte) []string {
		lines := splitLines(b)
		for i, l := range lines {
			lines[i] = secretLine.ReplaceAllString(l, `$1"[redacted]"`) + "\n"
		}
		return lines
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: redact(before), B: redact(after), FromFile: path, ToFile: path + " (after)", Context: 2,
	})
	if err != nil { // only a failing writer makes difflib fail, and a strings.Builder does not
		text = err.Error() + "\n"
	}
	if text == "" && !bytes.Equal(before, after) {
		// Only a redacted value differs; say so rather than show an empty diff.
		text = fmt.Sprintf("--- %s\n+++ %s (after)\n(only a redacted value changes, such as external_id; not shown)\n", path, path)
	}
	io.WriteString(w, text)
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// readSecretLine reads a one-line secret from path, or from in for "-": the first line, surrounding blanks
// removed, so `echo ID > file` and editors' trailing newlines work.
func readSecretLine(in io.Reader, path string) (string, error) {
	var data []byte
	var err error
	from := path
	if path == "-" {
		from = "stdin"
		data, err = io.ReadAll(io.LimitReader(in, 64<<10))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("%s holds no external ID (its first line is empty)", from)
	}
	return line, nil
}
