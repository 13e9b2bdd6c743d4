// Package journal is watch's record of one compose project: the digest each
// service was last seen at, mirrored and deployed, the digests that failed and
// must not be retried, and the history of every action (time, old → new,
// action, result). Every change rewrites the file atomically (atomicfile:
// fsynced temporary file, rename, fsynced directory) before the caller goes
// on, so a SIGKILL at any moment leaves the last acknowledged state; an action
// is written as started before it runs, so a restart knows what was under way.
// One process at a time holds a project's journal (an flock beside it).
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/currentsdev/currents/internal/atomicfile"
	"github.com/currentsdev/currents/internal/fix"
)

// Version is the file format's version; fields are only ever added within it.
const Version = 1

// MaxHistory bounds the history kept in the file: the oldest entries go
// first. At a release a week it is decades of actions.
const MaxHistory = 5000

// maxEvents bounds the event IDs remembered for spotting duplicates.
const maxEvents = 500

// Actions.
const (
	ActionMirror   = "mirror"
	ActionDeploy   = "deploy"
	ActionRollback = "rollback"
)

// Results.
const (
	Started    = "started"     // written before the action; still so after a crash
	OK         = "ok"          // done
	Failed     = "failed"      // did not happen; retried
	RolledBack = "rolled-back" // deployed, unhealthy, previous image back
	Abandoned  = "abandoned"   // found started after a restart; redone from the registry's truth
)

// State is the journal's content.
type State struct {
	Version    int                 `json:"version"`
	Project    string              `json:"project"`
	WorkingDir string              `json:"workingDir,omitempty"`
	Updated    time.Time           `json:"updated"`
	Services   map[string]*Service `json:"services"`
	History    []Entry             `json:"history"`
	// Events are the IDs of the latest events handled, oldest first.
	Events []string `json:"events,omitempty"`
}

// Service is what the journal knows of one service's image.
type Service struct {
	Image string `json:"image"` // the reference the project resolves to (tag)
	// Registry is the digest the tag resolved to at ResolvedAt.
	Registry   string    `json:"registry,omitempty"`
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	// Mirrored is the digest last copied to Mirror.
	Mirrored string `json:"mirrored,omitempty"`
	Mirror   string `json:"mirror,omitempty"`
	// Deployed is the digest the service's container runs; Previous the one
	// before it, kept for rollback.
	Deployed string `json:"deployed,omitempty"`
	Previous string `json:"previous,omitempty"`
	// Failed are digests that were deployed and rolled back: never tried
	// again, only a newer digest is.
	Failed []string `json:"failed,omitempty"`
}

// HasFailed reports whether digest was rolled back before.
func (s *Service) HasFailed(digest string) bool { return slices.Contains(s.Failed, digest) }

// Entry is one action in the history.
type Entry struct {
	ID      int       `json:"id"`
	Time    time.Time `json:"time"`
	Ended   time.Time `json:"ended,omitzero"`
	Service string    `json:"service"`
	Image   string    `json:"image,omitempty"`
	Action  string    `json:"action"`
	Old     string    `json:"old,omitempty"`
	New     string    `json:"new"`
	Result  string    `json:"result"`
	Message string    `json:"message,omitempty"`
	// Count is how many identical failures in a row the entry stands for
	// (absent: one; journals before it hold one per entry). Time is then
	// when the first began, Last when the latest began, Ended when it ended.
	Count int       `json:"count,omitempty"`
	Last  time.Time `json:"last,omitzero"`
}

// Attempts is how many attempts the entry stands for.
func (e Entry) Attempts() int { return max(e.Count, 1) }

// Journal is an open, locked journal.
type Journal struct {
	path string
	lock *flock.Flock
	now  func() time.Time

	mu    sync.Mutex
	state State
}

// projectName is what compose accepts as a project name, which is also a
// safe file name.
var projectName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`) })

// Path is where a project's journal lives in dir (the state directory).
func Path(dir, project string) string { return filepath.Join(dir, "watch", project+".json") }

// Option configures Open.
type Option func(*Journal)

// WithClock sets the clock stamping entries.
func WithClock(now func() time.Time) Option { return func(j *Journal) { j.now = now } }

// Open locks and reads project's journal in dir, creating it (and dir, 0700)
// when there is none. A second Open of the same journal, from any process,
// fails until the first is closed.
func Open(dir, project, workingDir string, opts ...Option) (*Journal, error) {
	if !projectName().MatchString(project) {
		return nil, fmt.Errorf("journal: project name %q is not one compose accepts", project)
	}
	path := Path(dir, project)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fix.New(fmt.Errorf("state directory %s: %w", filepath.Dir(path), err),
			"make it writable for this user, or set CURRENTS_STATE_DIR (or XDG_STATE_HOME) to a directory it can write")
	}
	j := &Journal{path: path, now: time.Now, lock: flock.New(path[:len(path)-len(".json")]+".lock", flock.SetPermissions(0o600))}
	for _, o := range opts {
		o(j)
	}
	ok, err := j.lock.TryLock()
	if err != nil {
		return nil, fix.New(fmt.Errorf("journal lock %s: %w", j.lock.Path(), err), unusable(j.lock.Path()))
	}
	if !ok {
		return nil, fix.New(fmt.Errorf("another watch is running for project %s (it holds %s)", project, j.lock.Path()),
			"stop it first (systemctl stop, or kill it); one watch per project and host")
	}
	removeStale(path)
	st, err := read(path)
	if err != nil {
		_ = j.lock.Unlock()
		return nil, err
	}
	if st.Project == "" {
		st = State{Version: Version, Project: project, Services: map[string]*Service{}}
	}
	st.WorkingDir = workingDir
	j.state = st
	return j, nil
}

// Read returns project's journal without locking it (--status, while a
// watch runs): atomic replacement means it is always a whole version.
func Read(dir, project string) (State, error) {
	st, err := read(Path(dir, project))
	if err == nil && st.Project == "" {
		return st, fix.New(fmt.Errorf("no journal for project %s in %s", project, filepath.Dir(Path(dir, project))),
			"run `docker currents watch` for this project first, or check the state directory (CURRENTS_STATE_DIR, XDG_STATE_HOME; /var/lib/currents for root)")
	}
	return st, err
}

func read(path string) (State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fix.New(fmt.Errorf("journal %s: %w", path, err), unusable(path))
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fix.New(fmt.Errorf("journal %s is not valid JSON: %w", path, err),
			"it is only ever replaced whole, so something else wrote it; move it aside and restart the watch (it starts a new one from the registry and the engine)")
	}
	if st.Version != Version {
		return State{}, fix.New(fmt.Errorf("journal %s has version %d, this build reads %d", path, st.Version, Version),
			"run the version of docker-currents that wrote it, or move it aside")
	}
	if st.Services == nil {
		st.Services = map[string]*Service{}
	}
	for n, s := range st.Services {
		if s == nil {
			// A hand edit's null: nothing known, as for a service not yet seen.
			st.Services[n] = &Service{}
		}
	}
	return st, nil
}

// unusable is the fix for a journal or lock file this user cannot open.
func unusable(path string) string {
	return "it must be a file this user can read and write (`ls -l " + path + "`): `chown` one left by another user (root's, from a sudo run), " +
		"or move it aside while no watch runs"
}

// removeStale drops temporary files a killed write left (atomicfile's names).
func removeStale(path string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	for _, s := range stale {
		os.Remove(s)
	}
}

// Close releases the lock.
func (j *Journal) Close() error { return j.lock.Unlock() }

// Path is the journal file.
func (j *Journal) Path() string { return j.path }

// State returns a deep copy of the journal's content.
func (j *Journal) State() State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return clone(j.state)
}

func clone(st State) State {
	b, _ := json.Marshal(st)
	var out State
	_ = json.Unmarshal(b, &out)
	if out.Services == nil {
		out.Services = map[string]*Service{}
	}
	return out
}

// Update applies fn to the journal and writes it before returning. If fn
// fails, or the write does, nothing changes, in memory or on disk.
func (j *Journal) Update(fn func(*State) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	next := clone(j.state)
	if err := fn(&next); err != nil {
		return err
	}
	next.Updated = j.now().UTC()
	if over := len(next.History) - MaxHistory; over > 0 {
		next.History = slices.Delete(next.History, 0, over)
	}
	if over := len(next.Events) - maxEvents; over > 0 {
		next.Events = slices.Delete(next.Events, 0, over)
	}
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(j.path, append(data, '\n'), 0o600); err != nil {
		return fix.New(fmt.Errorf("writing the journal %s: %w", j.path, err),
			"free space on that file system, or fix the state directory's permissions; the previous journal is unchanged")
	}
	j.state = next
	return nil
}

// Service returns the service's record, creating it.
func (st *State) Service(name string) *Service {
	s, ok := st.Services[name]
	if !ok {
		s = &Service{}
		st.Services[name] = s
	}
	return s
}

// Begin records an action as started and returns its ID for Finish.
func (j *Journal) Begin(e Entry) (int, error) {
	var id int
	err := j.Update(func(st *State) error {
		id = j.begin(st, e)
		return nil
	})
	return id, err
}

// Finish records an action's result, and applies apply (the state the
// result implies) in the same write.
func (j *Journal) Finish(id int, result, message string, apply func(*State)) error {
	return j.Update(func(st *State) error { return j.finish(st, id, result, message, apply) })
}

// FinishAndBegin finishes action id as Finish does and begins next in the
// same write: no SIGKILL can fall between the two (a deploy recorded as
// rolled back whose rollback is not yet recorded as under way).
func (j *Journal) FinishAndBegin(id int, result, message string, apply func(*State), next Entry) (int, error) {
	var nid int
	err := j.Update(func(st *State) error {
		if err := j.finish(st, id, result, message, apply); err != nil {
			return err
		}
		nid = j.begin(st, next)
		return nil
	})
	return nid, err
}

func (j *Journal) begin(st *State, e Entry) int {
	id := 1
	if n := len(st.History); n > 0 {
		id = st.History[n-1].ID + 1
	}
	e.ID, e.Time, e.Result = id, j.now().UTC(), Started
	st.History = append(st.History, e)
	return id
}

func (j *Journal) finish(st *State, id int, result, message string, apply func(*State)) error {
	for i := range st.History {
		if st.History[i].ID == id {
			st.History[i].Result, st.History[i].Message, st.History[i].Ended = result, message, j.now().UTC()
			if apply != nil {
				apply(st)
			}
			coalesce(st, i)
			return nil
		}
	}
	return fmt.Errorf("journal: no action %d", id)
}

// coalesce folds the failure at i into the service's previous entry of the
// same action when that is the same failure (digests, image, and the
// message's stable part): a mirror failing every ten minutes for a month is
// one entry with a count, not 4,320 pushing every other service's history
// out of MaxHistory. The entry shows the latest attempt's full text.
func coalesce(st *State, i int) {
	e := st.History[i]
	if e.Result != Failed {
		return
	}
	for p := i - 1; p >= 0; p-- {
		prev := &st.History[p]
		if prev.Service != e.Service || prev.Action != e.Action {
			continue
		}
		if prev.Result != Failed || prev.Old != e.Old || prev.New != e.New || prev.Image != e.Image || stable(prev.Message) != stable(e.Message) {
			return
		}
		prev.Count, prev.Last, prev.Ended, prev.Message = prev.Attempts()+e.Attempts(), e.Time, e.Ended, e.Message
		st.History = slices.Delete(st.History, i, i+1)
		return
	}
}

// stable is what two attempts of one failure share in their messages: its
// words. The numbers and identifiers in them differ at every attempt (AWS's
// "RequestID: 6f1c…", a retry's attempt count, a timestamp, the address a
// resolver's round robin gave, a container's ID), so every run of letters,
// digits, hyphens and dots that holds a digit (a UUID, an address, a
// duration, read whole), or is a hexadecimal ID of 8 or more, reads as one
// "#". The messages come from many libraries' errors and from compose's
// output: words are the one part all of them keep stable, where a code or a
// kind exists only for some.
func stable(msg string) string {
	var b strings.Builder
	b.Grow(len(msg))
	for i := 0; i < len(msg); {
		j := i
		for j < len(msg) && inWord(msg[j]) {
			j++
		}
		if j == i {
			b.WriteByte(msg[i])
			i++
			continue
		}
		if tok := msg[i:j]; strings.ContainsAny(tok, "0123456789") || len(tok) >= 8 && strings.Trim(tok, "abcdefABCDEF") == "" {
			b.WriteByte('#')
		} else {
			b.WriteString(msg[i:j])
		}
		i = j
	}
	return b.String()
}

func inWord(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.'
}

// Unfinished returns the actions still marked started: a previous run died
// during them.
func (st State) Unfinished() []Entry {
	var out []Entry
	for _, e := range st.History {
		if e.Result == Started {
			out = append(out, e)
		}
	}
	return out
}

// SeenEvent reports whether an event ID was handled before.
func (st State) SeenEvent(id string) bool { return id != "" && slices.Contains(st.Events, id) }

// AddEvent remembers a handled event ID.
func (st *State) AddEvent(id string) {
	if id != "" && !st.SeenEvent(id) {
		st.Events = append(st.Events, id)
	}
}
