package credhelpercmd

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/refresh"
)

func newRefreshCmd(a *App) *cobra.Command {
	var host string
	var force bool
	cmd := &cobra.Command{
		Use:   "refresh [--registry HOST] [--force]",
		Short: "renew the role sessions and ECR tokens that are due, before a pull needs them",
		Long: `refresh renews, for every registry in currents.yaml (or only --registry HOST), the role
session and ECR token the refresh policy says are due: those with less than a quarter of their
lifetime left (at most 3 hours ahead). --force renews them all. Nothing due means no AWS call.

It keeps the token warm on a host that rarely pulls, and finds a refused role or an expired
source credential hours before a pull needs them. currents-refresh.timer runs it every 30
minutes; each attempt is recorded in the cache, where ` + "`status`" + ` reads it.

Exit status: 0 when every registry is fresh, 1 when any failed (each is named with its fix).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.Config()
			if err != nil {
				return err
			}
			reqs, err := refresh.Requests(cfg, host, os.Getenv)
			if err != nil {
				return err
			}
			if len(reqs) == 0 {
				fmt.Fprintf(a.Out, "nothing to refresh: %s\n", cfg.Unconfigured())
				return nil
			}
			cache, err := a.Cache()
			if err != nil {
				return fix.New(err, "refresh keeps what it renews in the cache: fix the cache directory first")
			}
			aws, err := a.AWS()
			if err != nil {
				return err
			}
			f := &refresh.Fetcher{Cache: cache, AWS: aws, Timeout: cfg.Timeout, Log: a.Log}
			if !writeRenewals(a.Out, a.Err, f.RenewAll(cmd.Context(), reqs, force)) {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "registry", "", "renew only this registry host")
	cmd.Flags().BoolVar(&force, "force", false, "renew the session and token even when they are not due")
	return cmd
}

// writeRenewals prints one line per registry (failures on errOut, with their
// fix) and reports whether all succeeded.
func writeRenewals(out, errOut io.Writer, rs []refresh.Renewal) bool {
	ok := true
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	for _, r := range rs {
		if r.Err != nil {
			ok = false
			problem, fixText := fix.Split(r.Err)
			if !strings.Contains(problem, r.Host) {
				problem = r.Host + ": " + problem
			}
			fmt.Fprintf(errOut, "FAILED %s\n", problem)
			if fixText != "" {
				fmt.Fprintf(errOut, "  fix: %s\n", fixText)
			}
			continue
		}
		if r.Skipped != "" {
			fmt.Fprintf(out, "%s: %s\n", r.Host, r.Skipped)
			continue
		}
		var did []string
		if r.Renewed.Session {
			did = append(did, "session renewed")
		}
		if r.Renewed.Token {
			did = append(did, "token renewed")
		}
		if len(did) == 0 {
			did = append(did, "nothing due")
		}
		fmt.Fprintf(out, "%s: %s; token valid until %s", r.Host, strings.Join(did, ", "), at(r.TokenExpires))
		if !r.SessionExpires.IsZero() {
			fmt.Fprintf(out, ", session until %s", at(r.SessionExpires))
		}
		fmt.Fprintf(out, "; next refresh at %s\n", at(r.NextRefresh))
	}
	return ok
}
