// Package check renders the result of a stack check for people (a table
// with what to do), for scripts (JSON) and for exit codes only (quiet).
package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/stack"
)

// Row statuses beyond probe's: what the check decided without the network.
const (
	StatusBuildOnly = "build-only"
	StatusSkipped   = "skipped"
	// StatusInvalid marks an image whose reference is wrong before any
	// request (unset or empty variable, invalid reference).
	StatusInvalid = "invalid"
)

// Row is one service of the stack.
type Row struct {
	Service        string             `json:"service"`
	Image          string             `json:"image"`
	Raw            string             `json:"raw,omitempty"`
	Source         string             `json:"source,omitempty"`
	Status         string             `json:"status"`
	Pullable       bool               `json:"pullable"`
	Checked        bool               `json:"checked"`
	Digest         string             `json:"digest,omitempty"`
	MediaType      string             `json:"mediaType,omitempty"`
	Platform       string             `json:"platform,omitempty"`
	PlatformDigest string             `json:"platformDigest,omitempty"`
	Credentials    *keychain.Source   `json:"credentials,omitempty"`
	Variables      []stack.Variable   `json:"variables,omitempty"`
	Diagnostics    []stack.Diagnostic `json:"diagnostics,omitempty"`
	Message        string             `json:"message,omitempty"`
	Fix            string             `json:"fix,omitempty"`
	Warnings       []string           `json:"warnings,omitempty"`
}

// SchemaVersion is the version of the JSON document. It changes only when a
// field is removed or changes meaning; fields may be added.
const SchemaVersion = 1

// Report is a whole check. Its JSON form (--format json) is documented on
// the fields; statuses are probe's (ok, not-found, unauthorized, denied,
// expired, no-platform, manifest-missing, credentials-failed, unreachable,
// error) and this package's (invalid, build-only, skipped).
type Report struct {
	SchemaVersion int    `json:"schemaVersion"`
	Project       string `json:"project"`
	// Platform is the platform checked for services without platform:,
	// and PlatformFrom what chose it: "engine" (the Docker engine of the
	// current context), "host" (this machine: no engine answered) or
	// "DOCKER_DEFAULT_PLATFORM".
	Platform     string   `json:"platform,omitempty"`
	PlatformFrom string   `json:"platformFrom,omitempty"`
	ComposeFiles []string `json:"composeFiles"`
	EnvFiles     []string `json:"envFiles"`
	// Pullable is true when every checked image is pullable.
	Pullable bool  `json:"pullable"`
	Services []Row `json:"services"`
	// Error says why the project could not be loaded (exit status 2), and
	// Fix what to do when that is not plain from the error.
	Error string `json:"error,omitempty"`
	Fix   string `json:"fix,omitempty"`
}

// LoadFailed is the report of a project that cannot be loaded.
func LoadFailed(project string, err error) *Report {
	r := &Report{SchemaVersion: SchemaVersion, Project: project, ComposeFiles: []string{}, EnvFiles: []string{}, Services: []Row{}, Error: err.Error()}
	_, r.Fix = fix.Split(err)
	return r
}

// New combines the stack's diagnostics with the probe's results (matched by
// service name) into rows, one per service in stack order.
func New(st *stack.Stack, results []probe.Result) *Report {
	byID := map[string]probe.Result{}
	for _, r := range results {
		byID[r.Image.ID] = r
	}
	rep := &Report{SchemaVersion: SchemaVersion, Project: st.Name, ComposeFiles: st.ComposeFiles, EnvFiles: st.EnvFiles, Pullable: true}
	for _, s := range st.Services {
		row := Row{Service: s.Name, Image: s.Image, Raw: s.Raw, Source: s.Source.String(), Variables: s.Variables, Diagnostics: s.Diagnostics}
		for _, d := range s.Diagnostics {
			if d.Severity == stack.Warning {
				row.Warnings = append(row.Warnings, d.Message+"; "+d.Fix)
			}
		}
		switch {
		case s.Kind == stack.Disabled:
			row.Status = StatusSkipped
			row.Message = "profile not active: " + strings.Join(s.Profiles, ", ")
		case s.Kind == stack.BuildOnly:
			row.Status = StatusBuildOnly
			row.Message = orDefault(s.Reason, "built locally by compose, not pulled")
		case s.Kind == stack.NotPulled:
			row.Status, row.Message = StatusSkipped, s.Reason
		case hasError(s.Diagnostics):
			d := firstError(s.Diagnostics)
			row.Status, row.Checked, row.Message, row.Fix = StatusInvalid, true, d.Message, d.Fix
		default:
			r, ok := byID[s.Name]
			if !ok {
				row.Status, row.Message = StatusInvalid, "not checked"
				break
			}
			row.Checked = true
			row.Status = string(r.Status)
			row.Pullable = r.Pullable()
			row.Digest, row.MediaType = r.Digest, r.MediaType
			row.Platform, row.PlatformDigest = r.Platform, r.PlatformDigest
			src := r.Credentials
			row.Credentials = &src
			row.Message, row.Fix = r.Message, r.Fix
			if r.Status == probe.NotFound {
				row.Fix = notFoundFix(r, s.Variables)
			}
			row.Warnings = append(row.Warnings, r.Warnings...)
			if !row.Pullable && s.Build {
				// Compose builds a service with a build section when its
				// image cannot be pulled.
				row.Warnings = append(row.Warnings, "compose will build this image instead: "+r.Message)
				row.Status, row.Message, row.Fix = StatusBuildOnly, "", ""
				row.Checked = false
			}
			if !row.Pullable && !s.Build {
				// A missing-slash warning is the cause of the failure that
				// follows from it: say that first.
				for _, d := range s.Diagnostics {
					if d.Code == stack.CodeMissingSlash {
						row.Message, row.Fix = d.Message+" ("+r.Message+")", d.Fix
						row.Warnings = slices.DeleteFunc(row.Warnings, func(w string) bool { return strings.HasPrefix(w, d.Message) })
					}
				}
			}
		}
		if row.Checked && !row.Pullable {
			rep.Pullable = false
		}
		rep.Services = append(rep.Services, row)
	}
	return rep
}

// notFoundFix points at the variables that wrote the missing part of the
// reference, with their value and where it was set: that line is usually
// the one to fix.
func notFoundFix(r probe.Result, vars []stack.Variable) string {
	part := stack.PartTag
	what := "the tag"
	switch r.Missing {
	case probe.MissingRepository:
		part, what = stack.PartName, "the repository"
	case probe.MissingDigest:
		what = "the digest"
	}
	var from []string
	for _, v := range vars {
		if v.Part == part || v.Part == "" {
			from = append(from, fmt.Sprintf("%s (=%q, from %s)", v.Name, v.Value, v.Origin))
		}
	}
	if len(from) == 0 {
		return r.Fix
	}
	fix := "check " + strings.Join(from, " and ") + ", which writes " + what
	switch r.Missing {
	case probe.MissingRepository:
		return fix + ", or mirror the image there: docker currents mirror"
	case probe.MissingDigest:
		return fix + ": the registry has no image by that digest"
	}
	return fix + ", or mirror that tag there: docker currents mirror"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func hasError(ds []stack.Diagnostic) bool {
	_, ok := findError(ds)
	return ok
}

func firstError(ds []stack.Diagnostic) stack.Diagnostic {
	d, _ := findError(ds)
	return d
}

func findError(ds []stack.Diagnostic) (stack.Diagnostic, bool) {
	for _, d := range ds {
		if d.Severity == stack.Error {
			return d, true
		}
	}
	return stack.Diagnostic{}, false
}

// Images lists the services the probe must check: pulled services whose
// reference survived the diagnostics.
func Images(st *stack.Stack) []probe.Image {
	var out []probe.Image
	for _, s := range st.Services {
		if s.Kind != stack.Pulled || s.Ref == nil || hasError(s.Diagnostics) {
			continue
		}
		out = append(out, probe.Image{ID: s.Name, Ref: s.Ref, Platform: s.Platform})
	}
	return out
}

// JSON writes the report as one JSON document.
func JSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Quiet writes one line per unpullable image and nothing else, for scripts
// that only want the exit code and a reason when it fails.
func Quiet(w io.Writer, r *Report) error {
	for _, row := range r.Services {
		if row.Checked && !row.Pullable {
			if _, err := fmt.Fprintf(w, "%s\t%s\t%s\n", row.Service, row.Status, row.Message); err != nil {
				return err
			}
		}
	}
	return nil
}

// Colour decides whether to colour output to a stream: only on a terminal,
// and never when NO_COLOR is set to anything (https://no-color.org).
func Colour(isTerminal bool) bool {
	if v, ok := os.LookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	return isTerminal
}

const (
	green  = "\x1b[32m"
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

// TableOptions tune Table.
type TableOptions struct {
	Colour bool // ANSI colours (see Colour)
	// NoTrunc shows full image references and digests, as docker's
	// --no-trunc does.
	NoTrunc bool
}

// Table writes the report for people: one line per service with what to do,
// then the details of every problem and warning.
func Table(w io.Writer, r *Report, o TableOptions) error {
	t := table{w: w, colour: o.Colour, digest: shortDigest}
	// Images on one registry path are shown relative to it: full ECR
	// references make the table wider than a terminal.
	if o.NoTrunc {
		t.digest = func(d string) string { return d }
	} else {
		t.prefix = commonPrefix(r.Services)
	}
	if t.prefix != "" {
		fmt.Fprintf(w, "images under %s\n\n", t.prefix)
	}
	if err := t.rows(r.Services); err != nil {
		return err
	}
	t.details(r.Services)
	t.origins(r.Services)
	if r.Platform != "" {
		fmt.Fprintf(w, "\nplatform: %s (%s) for services without platform:\n", r.Platform, platformFrom(r.PlatformFrom))
	}
	verdict := t.paint(green, "every image is pullable")
	if !r.Pullable {
		verdict = t.paint(red, "some images are not pullable")
	}
	_, err := fmt.Fprintf(w, "\n%s (project %s)\n", verdict, r.Project)
	return err
}

// table is one rendering of a report as a table.
type table struct {
	w      io.Writer
	colour bool
	prefix string // dropped from every image
	digest func(string) string
}

func (t table) paint(c, s string) string {
	if !t.colour {
		return s
	}
	return c + s + reset
}

// rows writes one line per service. The table is laid out plain and
// coloured afterwards: escape codes would count as width in the tabwriter.
func (t table) rows(rows []Row) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tIMAGE\tSTATUS\tDIGEST\tNOTE")
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Service, orDash(strings.TrimPrefix(row.Image, t.prefix)), row.Status, orDash(t.digest(row.Digest)), note(row, t.digest))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	at := strings.Index(lines[0], "STATUS")
	for i, row := range rows {
		if line := lines[i+1]; t.colour && len(line) >= at+len(row.Status) {
			lines[i+1] = line[:at] + t.paint(rowColour(row), row.Status) + line[at+len(row.Status):]
		}
	}
	_, err := io.WriteString(t.w, strings.Join(lines, ""))
	return err
}

func rowColour(row Row) string {
	switch {
	case row.Pullable && len(row.Warnings) == 0:
		return green
	case row.Pullable:
		return yellow
	case row.Checked:
		return red
	}
	return dim
}

// detail is one problem or warning and the services it concerns.
type detail struct {
	services []string
	text     string
	fix      string
	warning  bool
}

// details lists the problems, then the warnings. A registry-wide problem
// repeats for every image of the registry, so rows with the same problem
// (or warning) are listed once, under all their services; problems sharing
// a fix (one mistake seen in several images) are listed together, the fix
// once under them.
func (t table) details(rows []Row) {
	all := collectDetails(rows)
	var fixes []string
	byFix := map[string][]*detail{}
	for _, d := range all {
		if d.warning {
			continue
		}
		if _, ok := byFix[d.fix]; !ok {
			fixes = append(fixes, d.fix)
		}
		byFix[d.fix] = append(byFix[d.fix], d)
	}
	for _, fix := range fixes {
		fmt.Fprintln(t.w)
		for _, d := range byFix[fix] {
			fmt.Fprintf(t.w, "%s %s\n", t.paint(red, strings.Join(d.services, ", ")+":"), d.text)
		}
		if fix != "" {
			fmt.Fprintf(t.w, "  fix: %s\n", fix)
		}
	}
	for _, d := range all {
		if d.warning {
			fmt.Fprintf(t.w, "\n%s %s\n", t.paint(yellow, strings.Join(d.services, ", ")+": warning:"), d.text)
		}
	}
}

func collectDetails(rows []Row) []*detail {
	var details []*detail
	byText := map[string]*detail{}
	add := func(service, text, fix string, warning bool) {
		key := fmt.Sprint(warning, "\x00", text, "\x00", fix)
		if d, ok := byText[key]; ok {
			d.services = append(d.services, service)
			return
		}
		d := &detail{services: []string{service}, text: text, fix: fix, warning: warning}
		byText[key] = d
		details = append(details, d)
	}
	for _, row := range rows {
		if row.Checked && !row.Pullable {
			add(row.Service, row.Message, row.Fix, false)
		}
		for _, wn := range row.Warnings {
			add(row.Service, wn, "", true)
		}
	}
	return details
}

// origins says where each variable used in an image came from (the first
// thing to look at when an image is not the one meant) and which part of
// the docker configuration supplied each registry's credentials, each line
// once.
func (t table) origins(rows []Row) {
	shown := map[string]bool{}
	once := func(lines []string, line string) []string {
		if shown[line] {
			return lines
		}
		shown[line] = true
		return append(lines, line)
	}
	var vars, creds []string
	for _, row := range rows {
		for _, v := range row.Variables {
			vars = once(vars, fmt.Sprintf("  %s=%q from %s", v.Name, v.Value, v.Origin))
		}
	}
	for _, row := range rows {
		if c := row.Credentials; c != nil {
			creds = once(creds, fmt.Sprintf("  %s: %s", registryOf(row.Image), c))
		}
	}
	if len(vars) > 0 {
		fmt.Fprintf(t.w, "\nvariables in image references:\n%s\n", strings.Join(vars, "\n"))
	}
	if len(creds) > 0 {
		fmt.Fprintf(t.w, "\ncredentials:\n%s\n", strings.Join(creds, "\n"))
	}
}

func platformFrom(from string) string {
	switch from {
	case PlatformFromEngine:
		return "the Docker engine's"
	case PlatformFromHost:
		return "this machine's: the Docker engine did not answer"
	}
	return "from " + from
}

// Where the platform checked for services without platform: came from.
const (
	PlatformFromEngine = "engine"
	PlatformFromHost   = "host"
)

// commonPrefix is the registry path ("host/dir/") all images share, when
// at least two images share one below the host; "" otherwise.
func commonPrefix(rows []Row) string {
	var images []string
	for _, row := range rows {
		if row.Image != "" {
			images = append(images, row.Image)
		}
	}
	prefix := stack.CommonPrefix(images)
	if len(images) < 2 || strings.Count(prefix, "/") < 2 {
		// A bare registry host would leave names that read as Docker Hub's.
		return ""
	}
	return prefix
}

// note is the table's one-line advice: the fix for a problem, the first
// warning otherwise.
func note(row Row, digest func(string) string) string {
	switch {
	case row.Checked && !row.Pullable && row.Fix != "":
		return firstClause(row.Fix)
	case row.Checked && !row.Pullable:
		return firstClause(row.Message)
	case len(row.Warnings) > 0:
		return "warning: " + firstClause(row.Warnings[0])
	case row.Status == StatusSkipped || row.Status == StatusBuildOnly:
		return row.Message
	case row.PlatformDigest != "" && row.PlatformDigest != row.Digest:
		return row.Platform + ": " + digest(row.PlatformDigest)
	case row.Platform != "" && row.Pullable:
		return row.Platform
	}
	return ""
}

// firstClause trims advice to fit a table cell; the full text follows the
// table.
func firstClause(s string) string {
	const max = 70
	if i := strings.IndexAny(s, ";("); i > 0 && i < max {
		return strings.TrimSpace(s[:i])
	}
	if i := strings.Index(s, ", or "); i > 0 && i < max {
		return s[:i]
	}
	if len(s) > max {
		return s[:max-1] + "…"
	}
	return s
}

// registryOf is the registry part of an image reference, for display.
func registryOf(image string) string {
	if i := strings.IndexByte(image, '/'); i > 0 && (strings.ContainsAny(image[:i], ".:") || image[:i] == "localhost") {
		return image[:i]
	}
	return "docker.io"
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
