package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/currentsdev/currents/internal/atomicfile"
	"github.com/currentsdev/currents/internal/settings"
)

// WriteJSON writes the report as one indented JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes one row per registry, times relative to the report's,
// then the details a row has no room for: principal and role, last errors.
func (r Report) WriteTable(w io.Writer) error {
	if r.CacheError != "" {
		fmt.Fprintf(w, "no usable cache: %s\n", r.CacheError)
	}
	if len(r.Registries) == 0 {
		_, err := fmt.Fprintln(w, r.unconfigured)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REGISTRY\tTOKEN\tTOKEN EXPIRES\tSESSION EXPIRES\tNEXT REFRESH\tLAST REFRESH\tRESULT\tFAILURES")
	for _, g := range r.Registries {
		result := g.LastResult
		if result == "" {
			result = "-"
		} else if g.LastResult == "failed" {
			result = "failed at " + g.LastErrorStep
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", g.Host, g.State, until(g.TokenExpires, r.Time), until(g.SessionExpires, r.Time),
			until(g.NextRefresh, r.Time), ago(g.LastRefresh, r.Time), result, g.Failures)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n(times relative to %s)\n", r.Time.Format(time.RFC3339))
	for _, g := range r.Registries {
		fmt.Fprintf(w, "%s\n  credentials: %s", g.Host, g.Principal)
		if g.Role != "" {
			fmt.Fprintf(w, ", assuming %s", g.Role)
		}
		fmt.Fprintln(w)
		if g.CacheFileError != "" {
			fmt.Fprintf(w, "  cache file: %s\n", g.CacheFileError)
		}
		if g.Untrusted != "" {
			fmt.Fprintf(w, "  untrusted: %s\n", g.Untrusted)
		}
		if !g.LastSuccess.IsZero() {
			fmt.Fprintf(w, "  last success: %s (%s)\n", g.LastSuccess.Format(time.RFC3339), ago(g.LastSuccess, r.Time))
		}
		if g.LastError != "" {
			state := "last error"
			if g.LastResult == "ok" {
				state = "last error (since recovered)"
			}
			fmt.Fprintf(w, "  %s, at %s: %s\n", state, g.LastErrorStep, g.LastError)
		}
	}
	return nil
}

func until(t, now time.Time) string {
	short := func(d time.Duration) string {
		if d >= time.Minute {
			return settings.FormatDuration(d.Truncate(time.Minute))
		}
		return settings.FormatDuration(d.Truncate(time.Second))
	}
	switch {
	case t.IsZero():
		return "-"
	case t.Equal(now):
		return "now"
	case t.After(now):
		return "in " + short(t.Sub(now))
	default:
		return short(now.Sub(t)) + " ago"
	}
}

// ago is until for a time that has passed: one after now was recorded before
// a backward clock step, and has no meaningful distance.
func ago(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "never"
	case t.After(now):
		return "in the future (clock stepped back)"
	}
	return until(t, now)
}

// metric is one family of the Prometheus text format.
type metric struct {
	name, kind, help string
	samples          []sample
}

type sample struct {
	labels [][2]string
	value  float64
}

// WritePrometheus writes the report in the Prometheus text exposition format
// (version 0.0.4), which node_exporter's textfile collector reads. Times are
// Unix seconds; a family with nothing cached has no sample for that registry.
func (r Report) WritePrometheus(w io.Writer) error {
	fams := []*metric{
		{name: "currents_token_expiry_timestamp_seconds", kind: "gauge", help: "When the cached registry token expires (Unix time)."},
		{name: "currents_session_expiry_timestamp_seconds", kind: "gauge", help: "When the cached role session expires (Unix time)."},
		{name: "currents_next_refresh_timestamp_seconds", kind: "gauge", help: "When the session or token next falls due for refresh (Unix time)."},
		{name: "currents_refresh_last_timestamp_seconds", kind: "gauge", help: "When the last refresh ended, successful or not (Unix time)."},
		{name: "currents_refresh_last_success_timestamp_seconds", kind: "gauge", help: "When the last successful refresh ended (Unix time)."},
		{name: "currents_refresh_failures_total", kind: "counter", help: "Failed refreshes recorded in the cache file."},
		{name: "currents_refresh_last_error", kind: "gauge", help: "1 when the last refresh failed, at the step named; 0 when it succeeded."},
		{name: "currents_registry_info", kind: "gauge", help: "A configured registry, its source credentials and role."},
	}
	ts := func(t time.Time) float64 { return float64(t.Unix()) }
	for _, g := range r.Registries {
		reg := [][2]string{{"registry", g.Host}}
		add := func(i int, v float64, extra ...[2]string) {
			fams[i].samples = append(fams[i].samples, sample{labels: append(append([][2]string{}, reg...), extra...), value: v})
		}
		for i, t := range []time.Time{g.TokenExpires, g.SessionExpires, g.NextRefresh, g.LastRefresh, g.LastSuccess} {
			if !t.IsZero() {
				add(i, ts(t))
			}
		}
		add(5, float64(g.Failures))
		if g.LastResult != "" {
			v, step := 0.0, g.LastErrorStep
			if g.LastResult == "failed" {
				v = 1
			} else {
				step = ""
			}
			add(6, v, [2]string{"step", step})
		}
		add(7, 1, [2]string{"principal", g.Principal}, [2]string{"role", g.Role})
	}
	var b bytes.Buffer
	for _, f := range fams {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
		for _, s := range f.samples {
			b.WriteString(f.name)
			b.WriteByte('{')
			for i, l := range s.labels {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%s=\"%s\"", l[0], escapeLabel(l[1]))
			}
			b.WriteString("} ")
			b.WriteString(strconv.FormatFloat(s.value, 'f', -1, 64))
			b.WriteByte('\n')
		}
	}
	fmt.Fprintf(&b, "# HELP currents_status_timestamp_seconds When this status was taken (Unix time): alert when it is stale.\n"+
		"# TYPE currents_status_timestamp_seconds gauge\ncurrents_status_timestamp_seconds %d\n", r.Time.Unix())
	_, err := w.Write(b.Bytes())
	return err
}

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// WriteTextfile replaces path atomically with the Prometheus format, mode
// 0644 (node_exporter runs as its own user). The collector reads only names
// ending in .prom, so the temporary file is never half-read.
func (r Report) WriteTextfile(path string) error {
	if filepath.Ext(path) != ".prom" {
		return fmt.Errorf("--textfile %s: node_exporter's textfile collector reads only files ending in .prom; name it e.g. currents.prom", path)
	}
	var b bytes.Buffer
	if err := r.WritePrometheus(&b); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return textfileError(path, err)
	}
	return nil
}

// textfileError names the directory --textfile writes in and what to do about it: it must be
// node_exporter's textfile directory, writable by whoever runs status (the refresh timer: root).
func textfileError(path string, err error) error {
	dir := filepath.Dir(path)
	collector := "node_exporter's --collector.textfile.directory"
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--textfile %s: the directory %s does not exist; create it, and make it %s (or point --textfile into that directory)", path, dir, collector)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("--textfile %s: %s is not a directory; point --textfile into %s", path, dir, collector)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return fmt.Errorf("--textfile %s: this user (uid %d) cannot write in %s (%v); run status as a user that can (the refresh timer runs as root), or let this user write there", path, os.Geteuid(), dir, errors.Unwrap(err))
	}
	return fmt.Errorf("--textfile %s: %w; give a path in %s that this user can write", path, err, collector)
}
