// Package tokencache keeps STS sessions and ECR tokens on disk between helper
// runs, decides when they need refreshing, and serialises refreshes across
// processes.
//
// One file per principal identity holds that principal's STS session and one
// ECR token per region (a token serves every registry the principal reaches in
// its region). Files are replaced by rename, so readers need no lock; writers
// hold a sibling .lock file (flock) and must re-read after taking it.
package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/currentsdev/currents/internal/atomicfile"
	"github.com/currentsdev/currents/internal/clock"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/rawfile"
	"github.com/currentsdev/currents/internal/secret"
)

// EnvDir overrides the cache directory.
const EnvDir = dirs.EnvCache

// Entry is the cached state of one principal. The zero Entry is a miss.
type Entry struct {
	Session  *credential.Session
	Tokens   map[string]credential.Token // by TokenKey
	Failures map[string]Failure          // the last failed refresh, by TokenKey
	// Refreshes is how the last refreshes went, by TokenKey (see LastRefresh).
	Refreshes map[string]LastRefresh
}

// Failure is a refresh that failed, kept so that the gets of one burst (the
// services of a compose pull, docker's own retries) answer with it instead of
// each asking AWS again: a refused role must not cost one AssumeRole per pull.
type Failure struct {
	At      time.Time
	Message string // the error as the user saw it; it holds no secret
	// Settings are the settings the refresh ran with (the timeout, …), which
	// the identity does not cover: a failure answers only gets made with the
	// same ones, so raising the timeout as the error advises takes effect at once.
	Settings string
}

// Failure returns the failure recorded for key after since, if any.
func (e *Entry) Failure(key string, since time.Time) (Failure, bool) {
	f, ok := e.Failures[key]
	return f, ok && f.At.After(since)
}

// Remembered returns the failure for key that answers a get asked at asked,
// now being later: one recorded within FailureHold before asked, with the
// same settings. A failure stamped after now is from a clock that has since
// stepped back, and is not trusted.
func (e *Entry) Remembered(key string, asked, now time.Time, settings string) (Failure, bool) {
	f, ok := e.Failure(key, asked.Add(-FailureHold))
	return f, ok && !f.At.After(now) && f.Settings == settings
}

// SetFailure records a failed refresh for key; a zero Failure clears it.
func (e *Entry) SetFailure(key string, f Failure) {
	if f.Message == "" {
		delete(e.Failures, key)
		return
	}
	if e.Failures == nil {
		e.Failures = map[string]Failure{}
	}
	e.Failures[key] = f
}

// TokenKey names the token slot serving r: the region for ECR, "public" for
// ECR Public, whose tokens are not regional.
func TokenKey(r ecrhost.Registry) string {
	if r.Public {
		return "public"
	}
	return r.Region
}

// Token returns the cached token for key, if any.
func (e *Entry) Token(key string) (credential.Token, bool) {
	if e == nil || e.Tokens == nil {
		return credential.Token{}, false
	}
	t, ok := e.Tokens[key]
	return t, ok
}

// SetToken stores t under key.
func (e *Entry) SetToken(key string, t credential.Token) {
	if e.Tokens == nil {
		e.Tokens = map[string]credential.Token{}
	}
	e.Tokens[key] = t
}

// Cache is a cache directory.
type Cache struct {
	dir    string
	clock  clock.Clock
	log    *slog.Logger
	broken error // why there is no usable directory (see Disabled)
}

// Option configures a Cache.
type Option func(*Cache)

// WithClock sets the time source (default: the wall clock).
func WithClock(c clock.Clock) Option { return func(x *Cache) { x.clock = c } }

// WithLogger sets where the cache reports fall-backs and repairs.
func WithLogger(l *slog.Logger) Option { return func(x *Cache) { x.log = l } }

// WithDir uses dir instead of resolving it from the environment.
func WithDir(dir string) Option { return func(x *Cache) { x.dir = dir } }

// Open resolves the cache directory (creating it 0700 when missing) by
// dirs.Cache's rule, the one config lookup shares: CURRENTS_CACHE_DIR, else
// $XDG_CACHE_HOME/currents, else the home's .cache/currents, then fallbacks
// that are said at warning level.
func Open(opts ...Option) (*Cache, error) {
	c := &Cache{clock: clock.System{}, log: logging.Discard()}
	for _, o := range opts {
		o(c)
	}
	if c.dir != "" {
		if err := c.ensureDir(c.dir); err != nil {
			return nil, err
		}
		return c, nil
	}
	dir, skipped, err := dirs.Cache(c.ensureDir)
	if err != nil {
		return nil, err
	}
	c.dir = dir
	for _, why := range skipped {
		c.log.Warn("cache: using "+dir+" instead", "because", why)
	}
	return c, nil
}

// Disabled is a cache with no usable directory, for when Open fails: every
// Load misses and Store and Lock fail with reason. A helper running on it
// still answers, calling AWS on every get: a cache problem must not stop
// docker pull.
func Disabled(reason error, opts ...Option) *Cache {
	c := &Cache{clock: clock.System{}, log: logging.Discard(), broken: reason}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Usable reports why the cache cannot store anything (nil when it can).
func (c *Cache) Usable() error { return c.broken }

// Dir is the resolved cache directory.
func (c *Cache) Dir() string { return c.dir }

// Clock is the cache's time source, shared with the refresh policy's callers.
func (c *Cache) Clock() clock.Clock { return c.clock }

// ensureDir makes dir exist as a directory we own with mode 0700, tightening a
// wider mode and refusing one owned by another user (who could read or swap our files).
func (c *Cache) ensureDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := dirs.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cache directory %s: %w", dir, err)
		}
		if fi, err = os.Lstat(dir); err != nil {
			return fmt.Errorf("cache directory %s: %w", dir, err)
		}
	} else if err != nil {
		return fmt.Errorf("cache directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cache directory %s: not a directory (a symlink or file is in the way)", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("cache directory %s: owned by uid %d, not by us (uid %d); remove it or set %s", dir, st.Uid, os.Getuid(), EnvDir)
	}
	if fi.Mode().Perm() != 0o700 {
		if why := othersDir(dir, fi); why != "" {
			return othersDirError(dir, fi, why)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("cache directory %s: mode %o, and tightening it to 0700 failed: %w", dir, fi.Mode().Perm(), err)
		}
		c.log.Warn("cache: tightened directory mode to 0700", "dir", dir, "was", fmt.Sprintf("%o", fi.Mode().Perm()))
	}
	if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return fmt.Errorf("cache directory %s: not writable: %w", dir, err)
	}
	return nil
}

func (c *Cache) path(id Identity) string { return filepath.Join(c.dir, id.Key()+".json") }

// Path is the file holding id's entry.
func (c *Cache) Path(id Identity) string { return c.path(id) }

// on-disk form; secret.Value redacts itself in JSON, so secrets are plain here.
type fileEntry struct {
	Version  int                    `json:"version"`
	Identity map[string]string      `json:"identity"`
	Session  *fileSession           `json:"session,omitempty"`
	Tokens   map[string]fileToken   `json:"tokens,omitempty"`
	Failures map[string]fileFailure `json:"failures,omitempty"`
	// Added after version 1 shipped; older readers ignore it.
	Refreshes map[string]fileRefresh `json:"refreshes,omitempty"`
}

type fileFailure struct {
	At       time.Time `json:"at"`
	Message  string    `json:"message"`
	Settings string    `json:"settings,omitempty"`
}

type fileSession struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token,omitempty"`
	Issued          time.Time `json:"issued"`
	Expires         time.Time `json:"expires"`
}

type fileToken struct {
	Username string    `json:"username"`
	Password string    `json:"password"`
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
}

const fileVersion = 1

// maxFileSize bounds what Load reads: an entry is a few kilobytes, and a
// planted giant file must cost a miss, not the memory to hold it.
const maxFileSize = 1 << 20

// Load reads id's entry. A missing, unreadable, corrupt or foreign file is a
// miss (an empty Entry), never an error: the next refresh rebuilds it. A file
// with a mode wider than 0600 is tightened.
//
// The directory may hold entries planted before it was tightened, so the file
// is opened without following a symlink and without waiting on a FIFO, must be
// a regular file of ours, and its mode is changed through the open descriptor
// only: nothing reached through a link is ever read or changed.
func (c *Cache) Load(id Identity) *Entry {
	if c.broken != nil {
		return &Entry{}
	}
	e, err := c.LoadChecked(id)
	if err != nil {
		c.log.Debug("cache: corrupt or invalid file, rebuilding", "err", err)
	}
	return e
}

// LoadToken is Load(id).Token(key) for the warm path: it decodes only the
// token (warmToken: as json.Unmarshal would, without its cost), and judges
// the file as Load does on what it decodes (a file that is not JSON, a wrong
// version or an incomplete token is a miss).
func (c *Cache) LoadToken(id Identity, key string) (credential.Token, bool) {
	if c.broken != nil {
		return credential.Token{}, false
	}
	p := c.path(id)
	data, ok := c.readFile(p)
	if !ok {
		return credential.Token{}, false
	}
	t, ok := warmToken(data, key)
	if !ok {
		c.log.Debug("cache: no complete token for the key, or a corrupt or foreign file", "file", p, "key", key)
		return credential.Token{}, false
	}
	return credential.Token{Username: t.Username, Password: secret.New(t.Password), Issued: t.Issued, Expires: t.Expires}, true
}

func (t fileToken) complete() bool {
	return t.Username != "" && t.Password != "" && t.Expires.After(t.Issued)
}

// readFile reads one of the cache's files as Load needs it read (see there),
// saying why it cannot; ok is false for a missing file too.
func (c *Cache) readFile(p string) (data []byte, ok bool) {
	data, err := rawfile.Read(p, syscall.O_NOFOLLOW|syscall.O_NONBLOCK, maxFileSize, func(fd int, st *syscall.Stat_t) error {
		return c.usableFile(fd, st, p)
	})
	switch {
	case err == nil:
		return data, true
	case errors.Is(err, errUnusable):
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, syscall.ELOOP):
		c.log.Warn("cache: file is a symbolic link, ignoring it (the next refresh replaces it)", "file", p)
	default:
		c.log.Warn("cache: cannot read, treating as empty", "file", p, "err", err)
	}
	return nil, false
}

// errUnusable is a cache file usableFile refused, having said why.
var errUnusable = errors.New("unusable cache file")

// usableFile checks an opened cache file: a regular file, ours, mode 0600
// (tightened through the descriptor when wider).
func (c *Cache) usableFile(fd int, st *syscall.Stat_t, p string) error {
	mode := fileMode(st)
	if problem := notOursMode(mode, st.Uid); problem != "" {
		fix := "the next refresh replaces it"
		if mode.IsDir() {
			fix = "remove it: a refresh cannot replace a directory"
		}
		c.log.Warn("cache: "+problem+", ignoring it ("+fix+")", "file", p)
		return errUnusable
	}
	if mode.Perm() != 0o600 {
		if err := syscall.Fchmod(fd, 0o600); err != nil {
			c.log.Warn("cache: file mode too wide and cannot be fixed, ignoring it", "file", p, "mode", fmt.Sprintf("%o", mode.Perm()))
			return errUnusable
		}
		c.log.Warn("cache: tightened file mode to 0600", "file", p, "was", fmt.Sprintf("%o", mode.Perm()))
	}
	return nil
}

// fileMode is st's type and permissions as fs.FileMode.
func fileMode(st *syscall.Stat_t) fs.FileMode {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	}
	return m
}

// notOurs says why fi is not a regular file owned by this user, or "".
func notOurs(fi fs.FileInfo) string {
	uid := uint32(os.Getuid())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = st.Uid
	}
	return notOursMode(fi.Mode(), uid)
}

func notOursMode(mode fs.FileMode, uid uint32) string {
	if !mode.IsRegular() {
		return "not a regular file (" + kind(mode) + ")"
	}
	if int(uid) != os.Getuid() {
		return fmt.Sprintf("owned by uid %d, not by us (uid %d)", uid, os.Getuid())
	}
	return ""
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// decode reads a cache file's bytes: an error for anything but a complete
// entry of this version.
func decode(data []byte) (*Entry, error) {
	var fe fileEntry
	if err := json.Unmarshal(data, &fe); err != nil {
		return nil, err
	}
	return fe.entry()
}

// encode is the file holding e for id.
func encode(id Identity, e *Entry) ([]byte, error) {
	fe := fileEntry{Version: fileVersion, Identity: id.Describe()}
	if s := e.Session; s != nil {
		fe.Session = &fileSession{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey.Reveal(),
			SessionToken: s.SessionToken.Reveal(), Issued: s.Issued.UTC(), Expires: s.Expires.UTC()}
	}
	if len(e.Tokens) > 0 {
		fe.Tokens = map[string]fileToken{}
		for k, t := range e.Tokens {
			fe.Tokens[k] = fileToken{Username: t.Username, Password: t.Password.Reveal(), Issued: t.Issued.UTC(), Expires: t.Expires.UTC()}
		}
	}
	for k, f := range e.Failures {
		if fe.Failures == nil {
			fe.Failures = map[string]fileFailure{}
		}
		fe.Failures[k] = fileFailure{At: f.At.UTC(), Message: f.Message, Settings: f.Settings}
	}
	fe.Refreshes = refreshesToFile(e.Refreshes)
	return json.MarshalIndent(fe, "", "  ")
}

func (fe *fileEntry) entry() (*Entry, error) {
	if fe.Version != fileVersion {
		return nil, fmt.Errorf("version %d, want %d", fe.Version, fileVersion)
	}
	e := &Entry{}
	if s := fe.Session; s != nil {
		if s.AccessKeyID == "" || s.SecretAccessKey == "" || !s.Expires.After(s.Issued) {
			return nil, errors.New("incomplete session")
		}
		e.Session = &credential.Session{AccessKeyID: s.AccessKeyID, SecretAccessKey: secret.New(s.SecretAccessKey),
			SessionToken: secret.New(s.SessionToken), Issued: s.Issued, Expires: s.Expires}
	}
	for k, t := range fe.Tokens {
		if k == "" || !t.complete() {
			return nil, fmt.Errorf("incomplete token %q", k)
		}
		e.SetToken(k, credential.Token{Username: t.Username, Password: secret.New(t.Password), Issued: t.Issued, Expires: t.Expires})
	}
	for k, f := range fe.Failures {
		e.SetFailure(k, Failure(f))
	}
	e.Refreshes = refreshesFromFile(fe.Refreshes)
	return e, nil
}

// Store replaces id's entry atomically (internal/atomicfile: a temporary file
// in the same directory, renamed over the old one), so a reader sees either
// the old file or the new one, and a failure (a full disk) leaves the old
// file untouched. Callers hold the lock (see Lock).
//
// Neither the file nor the directory is fsynced (writeFile): everything in
// the cache can be fetched again, and a file a crash leaves cut short or
// empty does not decode, which every reader takes for a missing one (Load,
// the warm get's decoder, ErrNotCompiled), so the worst a crash costs is one
// refresh. A flush to disk, in contrast, was on the path of every cold get:
// the gets of a burst wait for the refresh's cache writes, up to tens of
// milliseconds each on a busy disk.
func (c *Cache) Store(id Identity, e *Entry) error {
	if c.broken != nil {
		return c.broken
	}
	data, err := encode(id, e)
	if err != nil {
		return err
	}
	if err := c.ensureDir(c.dir); err != nil {
		return err
	}
	p := c.path(id)
	c.removeStale(id)
	if err := writeFile(p, append(data, '\n'), 0o600, atomicfile.NoSync()); err != nil {
		return c.writeErr(p, err)
	}
	if id.Token != "" {
		c.pruneTokens(id)
	}
	return nil
}

// writeFile is atomicfile.WriteFile; tests see the options the cache writes with.
var writeFile = atomicfile.WriteFile

// pruneTokens removes the files of id's service account kept for its earlier
// tokens once nothing in them can serve (Identity.WithServiceAccount): one
// file per token would otherwise pile up as the kubelet rotates them.
func (c *Cache) pruneTokens(id Identity) {
	key := id.Key()
	stem, _, _ := strings.Cut(key, "-")
	files, _ := filepath.Glob(filepath.Join(c.dir, stem+"-*.json"))
	now := c.clock.Now()
	for _, f := range files {
		if filepath.Base(f) == key+".json" {
			continue
		}
		data, ok := c.readFile(f)
		if e, err := decode(data); ok && err == nil && e.live(now) {
			continue
		}
		removeIdle(f, strings.TrimSuffix(f, ".json")+".lock")
	}
}

// removeIdle removes a dead identity's file and its lock file while holding
// that lock, and neither while someone else holds it (a request for that
// token still in flight, a lock handed to the AWS binary that Adopt must
// find again). Removing a held lock file would let the next opener lock a
// new file its holder does not lock.
func removeIdle(file, lock string) {
	f, err := os.OpenFile(lock, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		os.Remove(file)
		return
	}
	if err != nil {
		return
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return
	}
	os.Remove(file)
	os.Remove(lock)
}

// live reports whether anything in e may still be served at now.
func (e *Entry) live(now time.Time) bool {
	if e.Session != nil && now.Before(e.Session.Expires) {
		return true
	}
	for _, t := range e.Tokens {
		if now.Before(t.Expires) {
			return true
		}
	}
	return false
}

func (c *Cache) writeErr(p string, err error) error {
	fix := "check the directory's permissions, or set " + EnvDir
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		fix = "free space on that file system, or set " + EnvDir + " to another one"
	case errors.Is(err, syscall.EISDIR):
		fix = "remove the directory " + p + " (a cache file belongs there), or set " + EnvDir
	}
	return fmt.Errorf("writing cache file %s: %w; the previous cache file is unchanged; %s", p, err, fix)
}

// removeStale deletes temporary files a killed writer left behind. Under the
// lock no other writer for id exists, so every such file is stale.
func (c *Cache) removeStale(id Identity) {
	stale, _ := filepath.Glob(filepath.Join(c.dir, "."+id.Key()+".json.tmp-*")) // atomicfile's temporary names
	for _, s := range stale {
		os.Remove(s)
	}
}

// Update runs fn on id's entry under the lock and stores the result.
func (c *Cache) Update(ctx context.Context, id Identity, fn func(*Entry) error) error {
	unlock, err := c.Lock(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	e := c.Load(id)
	if err := fn(e); err != nil {
		return err
	}
	return c.Store(id, e)
}
