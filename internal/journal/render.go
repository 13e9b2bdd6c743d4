package journal

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// SchemaVersion is the version of `watch --status --format json`; fields are
// only ever added within it.
const SchemaVersion = 1

// WriteJSON prints the journal as `watch --status --format json` does: the
// file's own content, with the schema version and the file's path.
func WriteJSON(w io.Writer, path string, st State) error {
	doc := struct {
		SchemaVersion int    `json:"schemaVersion"`
		Journal       string `json:"journal"`
		State
	}{SchemaVersion, path, st}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// historyShown is how many history entries the table shows.
const historyShown = 20

// WriteTable prints the services' digests, then the latest history.
func WriteTable(w io.Writer, path string, st State) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "project %s (%s), journal %s, updated %s\n\n", st.Project, st.WorkingDir, path, when(st.Updated))
	fmt.Fprintln(tw, "SERVICE\tREGISTRY\tMIRRORED\tDEPLOYED\tFAILED\tRESOLVED")
	names := make([]string, 0, len(st.Services))
	for n := range st.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := st.Services[n]
		failed := "-"
		if len(s.Failed) > 0 {
			failed = short(s.Failed[len(s.Failed)-1])
			if len(s.Failed) > 1 {
				failed += fmt.Sprintf(" (+%d)", len(s.Failed)-1)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n, short(s.Registry), short(s.Mirrored), short(s.Deployed), failed, when(s.ResolvedAt))
	}
	fmt.Fprintln(tw, "\nTIME\tSERVICE\tACTION\tOLD\tNEW\tRESULT\tMESSAGE")
	from := max(0, len(st.History)-historyShown)
	for _, e := range st.History[from:] {
		result := e.Result
		if n := e.Attempts(); n > 1 {
			result = fmt.Sprintf("%s ×%d, last %s", e.Result, n, when(e.Last))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when(e.Time), e.Service, e.Action, short(e.Old), short(e.New), result, e.Message)
	}
	return tw.Flush()
}

// short is a digest's first 12 hex digits, as docker shows image IDs.
func short(d string) string {
	const prefix = "sha256:"
	if d == "" {
		return "-"
	}
	if len(d) > len(prefix)+12 && d[:len(prefix)] == prefix {
		return d[len(prefix) : len(prefix)+12]
	}
	return d
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
