package mirror

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
)

// Lines is the Observer for logs and pipes: one plain line per image when it
// is done, nothing in between.
type Lines struct {
	mu  sync.Mutex
	w   io.Writer
	pad int
}

// NewLines writes to w; names pads the service column.
func NewLines(w io.Writer, names []string) *Lines {
	return &Lines{w: w, pad: width(names)}
}

func (*Lines) Planned(int, int, int64) {}
func (*Lines) Streamed(int, int64)     {}
func (*Lines) Blob(int, int64, bool)   {}

// Finished prints the image's line.
func (l *Lines) Finished(_ int, r Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%-*s  %s\n", l.pad, r.Name, Summary(r))
}

// Summary is one result in words, as the log line says it.
func Summary(r Result) string {
	if r.Status == Failed {
		return summary(r)
	}
	return summary(r) + "  " + r.Target
}

// summary leaves out the target, so a terminal line stays short enough not
// to wrap (a wrapped line breaks redrawing in place).
func summary(r Result) string {
	switch r.Status {
	case Present:
		return fmt.Sprintf("already present, checked  %s", short(r.Digest))
	case Copied:
		return fmt.Sprintf("copied  %s  %d/%d blobs, %s copied, %s skipped",
			short(r.Digest), r.CopiedBlobs, r.Blobs, size(r.CopiedBytes), size(r.SkippedBytes))
	default:
		return "failed: " + r.Error
	}
}

// Bars is the Observer for a terminal: one live line per image with bytes
// and blobs, copied versus skipped, redrawn in place.
type Bars struct {
	mu     sync.Mutex
	w      io.Writer
	pad    int
	rows   []barRow
	drawn  int
	last   time.Time
	stop   chan struct{}
	closed bool
}

type barRow struct {
	name          string
	blobs, copied int
	skipped       int
	total, done   int64
	skippedBytes  int64
	finished      bool
	line          string
}

// NewBars draws on w (a terminal) for the images named, in order.
func NewBars(w io.Writer, names []string) *Bars {
	b := &Bars{w: w, pad: width(names), stop: make(chan struct{})}
	for _, n := range names {
		b.rows = append(b.rows, barRow{name: n, line: "checking"})
	}
	b.draw(true)
	// Redraw on a tick too, so a long blob still moves the bar.
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.mu.Lock()
				b.draw(true)
				b.mu.Unlock()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Close draws the final state and stops redrawing.
func (b *Bars) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.stop)
		b.draw(true)
	}
}

func (b *Bars) Planned(i, blobs int, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rows[i].blobs, b.rows[i].total = blobs, total
	b.draw(false)
}

func (b *Bars) Streamed(i int, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rows[i].done += n
	b.draw(false)
}

func (b *Bars) Blob(i int, sz int64, copied bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if copied {
		b.rows[i].copied++
	} else {
		b.rows[i].skipped++
		b.rows[i].skippedBytes += sz
	}
	b.draw(false)
}

func (b *Bars) Finished(i int, r Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rows[i].finished = true
	b.rows[i].line = summary(r)
	b.draw(true)
}

// draw repaints every row; unforced draws are limited to ten a second.
func (b *Bars) draw(force bool) {
	if b.closed && !force {
		return
	}
	now := time.Now()
	if !force && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	var s strings.Builder
	if b.drawn > 0 {
		fmt.Fprintf(&s, "\x1b[%dA", b.drawn)
	}
	for _, r := range b.rows {
		s.WriteString("\r\x1b[2K")
		fmt.Fprintf(&s, "%-*s  ", b.pad, r.name)
		if r.finished || r.blobs == 0 {
			s.WriteString(r.line)
		} else {
			fmt.Fprintf(&s, "%s %s/%s  %d/%d blobs (%d skipped)",
				bar(r.done+r.skippedBytes, r.total, 24), size(r.done), size(r.total-r.skippedBytes), r.copied+r.skipped, r.blobs, r.skipped)
		}
		s.WriteString("\n")
	}
	b.drawn = len(b.rows)
	io.WriteString(b.w, s.String())
}

func bar(done, total int64, n int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", n) + "]"
	}
	if done > total {
		done = total
	}
	k := int(done * int64(n) / total)
	return "[" + strings.Repeat("=", k) + strings.Repeat(" ", n-k) + "]"
}

// WriteTable prints the final table: one row per image with its digest and
// the bytes copied versus skipped, then the totals.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATUS\tDIGEST\tCOPIED\tSKIPPED\tTARGET")
	var copied, skipped int64
	for _, r := range results {
		status := string(r.Status)
		if r.Status == Present {
			status = "present (checked)"
		}
		digest := short(r.Digest)
		if r.Status == Failed {
			digest = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, status, digest, size(r.CopiedBytes), size(r.SkippedBytes), r.Target)
		copied += r.CopiedBytes
		skipped += r.SkippedBytes
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t%s\t%s\t\n", size(copied), size(skipped))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.Replaced != "" {
			fmt.Fprintf(w, "note: %s moved from %s to %s\n", r.Target, short(r.Replaced), short(r.Digest))
		}
		if r.Filtered {
			fmt.Fprintf(w, "note: %s keeps only %s, so its digest differs from the source (%s)\n", r.Name, strings.Join(r.Platforms, ", "), short(r.SourceDigest))
		}
	}
	for _, r := range results {
		if r.Status == Failed {
			fmt.Fprintf(w, "error: %s\n", r.Error)
		}
	}
	return nil
}

// Report is the `--format json` document.
type Report struct {
	To           string   `json:"to"`
	Images       []Result `json:"images"`
	CopiedBytes  int64    `json:"copiedBytes"`
	SkippedBytes int64    `json:"skippedBytes"`
	OK           bool     `json:"ok"`
	// Env lists the variable assignments that point the stack at the mirror.
	Env []string `json:"env,omitempty"`
	// ComposeEdits are the services whose image no variable writes, with
	// the image line that points them at the mirror ("cache:  image: …").
	ComposeEdits []string `json:"composeEdits,omitempty"`
}

// WriteJSON prints the report as indented JSON.
func WriteJSON(w io.Writer, rep Report) error {
	rep.OK = true
	for _, r := range rep.Images {
		rep.CopiedBytes += r.CopiedBytes
		rep.SkippedBytes += r.SkippedBytes
		if r.Status == Failed {
			rep.OK = false
		}
	}
	if rep.Images == nil {
		rep.Images = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func short(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

func size(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

func width(names []string) int {
	w := len("SERVICE")
	for _, n := range names {
		w = max(w, len(n))
	}
	return w
}
