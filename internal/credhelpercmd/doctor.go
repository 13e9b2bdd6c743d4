package credhelpercmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/doctor"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/product"
)

func newDoctorCmd(a *App) *cobra.Command {
	var host, format string
	cmd := &cobra.Command{
		Use:   "doctor [--registry HOST] [--format text|json]",
		Short: "check every step a pull depends on, and say how to fix what fails",
		Long: `doctor checks, in order: the helper is on PATH as docker runs it; config.json sends the
registry to it; its currents.yaml entry is valid; source credentials resolve; the role can be
assumed (naming the role and the caller); an ECR token is obtained (with its expiry); this
machine's clock agrees with AWS; the registry answers /v2/ with the token; the token cache
directory is writable with safe modes.

Without --registry it checks every registry in currents.yaml and every credHelpers entry that
names this helper; when it finds none because currents.yaml cannot be read, it reports that file's
problem (file, key, fix) and what config.json lacks under the registry "". Exit status: 0 when every check passes, 1 when any fails (or the command
itself cannot run). Every AWS and registry wait is bounded by the configured timeout.

--format json prints one object: {"schemaVersion": 1, "ok": BOOL, "reports": [{"registry": HOST,
"checks": [{"name", "status": "pass"|"fail"|"skip", "detail", "fix" (only on fail)}]}]}. The
check names, in order: helper-on-path, docker-config, currents-yaml, source-credentials,
assume-role, ecr-token, clock-skew, registry, cache-dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: use text or json", format)
			}
			aws, err := a.AWS()
			if err != nil {
				aws = awsapi.New(awsapi.WithLogger(a.Log)) // a bad currents.yaml is for doctor to report, not to stop it
			}
			d := doctor.New(aws, doctor.WithConfig(a.Config))
			var hosts []string
			if host != "" {
				h, err := ecrhost.Normalize(host)
				if err != nil {
					return fmt.Errorf("--registry %q: %v", host, err)
				}
				hosts = []string{h}
			}
			var reports []doctor.Report
			ok := true
			if host == "" {
				if hosts = d.Hosts(); len(hosts) == 0 {
					rep, bad := d.Unconfigured(cmd.Context())
					if !bad {
						return fmt.Errorf("no registry is configured: run `%s configure --registry HOST --role-arn ROLE_ARN` first, or name one with --registry", product.HelperCommand)
					}
					reports, ok = append(reports, rep), false
				}
			}
			for _, h := range hosts {
				rep := d.Run(cmd.Context(), h)
				reports = append(reports, rep)
				ok = ok && rep.OK()
			}
			if format == "json" {
				enc := json.NewEncoder(a.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					SchemaVersion int             `json:"schemaVersion"`
					OK            bool            `json:"ok"`
					Reports       []doctor.Report `json:"reports"`
				}{1, ok, reports}); err != nil {
					return err
				}
			} else {
				for _, rep := range reports {
					writeReport(a.Out, rep)
				}
			}
			if !ok {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "registry", "", "registry host to check (default: every configured one)")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func writeReport(w io.Writer, rep doctor.Report) {
	name := rep.Registry
	if name == "" {
		name = "(no registry found to check)"
	}
	fmt.Fprintf(w, "%s\n", name)
	failed := 0
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "  %-4s  %-18s  %s\n", strings.ToUpper(string(c.Status)), c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(w, "  %-4s  %-18s  fix: %s\n", "", "", c.Fix)
		}
		if c.Status == doctor.Fail {
			failed++
		}
	}
	if failed == 0 {
		fmt.Fprintf(w, "  all checks passed\n\n")
	} else {
		fmt.Fprintf(w, "  %d check(s) failed\n\n", failed)
	}
}
