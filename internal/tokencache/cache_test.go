package tokencache

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/secret"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func target(entry *config.Entry) config.Target {
	r, _ := ecrhost.Parse("513558712013.dkr.ecr.us-east-1.amazonaws.com")
	return config.Target{Registry: r, Entry: entry}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestIdentity(t *testing.T) {
	role := &config.Entry{RoleARN: "arn:aws:iam::111122223333:role/pull", ExternalID: "x1"}
	base := IdentityFor(target(role), env(nil)).Key()
	// Temporary keys must not change the key: they change every hour.
	if k := IdentityFor(target(role), env(map[string]string{"AWS_ACCESS_KEY_ID": "ASIATEMP", "AWS_SESSION_TOKEN": "tok"})).Key(); k != base {
		t.Error("role identity depends on the temporary source key")
	}
	if k := IdentityFor(target(role), env(map[string]string{"AWS_ACCESS_KEY_ID": "AKIALONG"})).Key(); k != base {
		t.Error("role identity depends on the source key; the principal is the role")
	}
	different := map[string]Identity{
		"external id":    IdentityFor(target(&config.Entry{RoleARN: role.RoleARN, ExternalID: "x2"}), env(nil)),
		"role":           IdentityFor(target(&config.Entry{RoleARN: "arn:aws:iam::111122223333:role/other", ExternalID: "x1"}), env(nil)),
		"profile":        IdentityFor(target(&config.Entry{RoleARN: role.RoleARN, ExternalID: "x1", Profile: "p"}), env(nil)),
		"sts endpoint":   IdentityFor(target(role), env(map[string]string{"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1"})),
		"ecr endpoint":   IdentityFor(target(role), env(map[string]string{"AWS_ENDPOINT_URL_ECR": "http://127.0.0.1:1"})),
		"default chain":  IdentityFor(target(nil), env(nil)),
		"web identity":   IdentityFor(target(&config.Entry{RoleARN: role.RoleARN, WebIdentityTokenFile: "/t"}), env(nil)),
		"session name":   IdentityFor(target(&config.Entry{RoleARN: role.RoleARN, ExternalID: "x1", SessionName: "s"}), env(nil)),
		"config file":    IdentityFor(target(role), env(map[string]string{"AWS_CONFIG_FILE": "/other"})),
		"other partiton": IdentityFor(config.Target{Registry: ecrhost.Registry{Partition: "aws-cn"}, Entry: role}, env(nil)),
	}
	seen := map[string]string{base: "base"}
	for name, id := range different {
		if prev, dup := seen[id.Key()]; dup {
			t.Errorf("%s shares a key with %s", name, prev)
		}
		seen[id.Key()] = name
	}

	chain := func(m map[string]string) string { return IdentityFor(target(nil), env(m)).Key() }
	if chain(map[string]string{"AWS_ACCESS_KEY_ID": "ASIA1", "AWS_SESSION_TOKEN": "a"}) != chain(map[string]string{"AWS_ACCESS_KEY_ID": "ASIA2", "AWS_SESSION_TOKEN": "b"}) {
		t.Error("default chain keyed on a temporary access key")
	}
	if chain(map[string]string{"AWS_ACCESS_KEY_ID": "AKIA1"}) == chain(map[string]string{"AWS_ACCESS_KEY_ID": "AKIA2"}) {
		t.Error("two long-term keys share a cache file")
	}
	if chain(map[string]string{"AWS_PROFILE": "a"}) == chain(map[string]string{"AWS_PROFILE": "b"}) ||
		chain(map[string]string{"AWS_ROLE_ARN": "a"}) == chain(nil) {
		t.Error("default chain ignores AWS_PROFILE or AWS_ROLE_ARN")
	}
	// The region is not part of the key: one file holds every region's token.
	other := target(role)
	other.Registry.Region = "eu-west-1"
	if IdentityFor(other, env(nil)).Key() != base {
		t.Error("region changes the identity")
	}
	if d := IdentityFor(target(role), env(nil)).Describe(); d["external_id"] != "[set]" {
		t.Errorf("Describe leaks or drops the external ID: %v", d)
	}
}

func sampleEntry() *Entry {
	e := &Entry{Session: &credential.Session{AccessKeyID: "ASIAX", SecretAccessKey: secret.New("sk"), SessionToken: secret.New("st"), Issued: t0, Expires: t0.Add(time.Hour)}}
	e.SetToken("us-east-1", credential.Token{Username: "AWS", Password: secret.New("pw"), Issued: t0, Expires: t0.Add(12 * time.Hour)})
	return e
}

func open(t *testing.T) (*Cache, Identity) {
	t.Helper()
	c, err := Open(WithDir(filepath.Join(t.TempDir(), "cache")))
	if err != nil {
		t.Fatal(err)
	}
	return c, IdentityFor(target(&config.Entry{RoleARN: "arn:aws:iam::111122223333:role/pull"}), env(nil))
}

func TestStoreLoad(t *testing.T) {
	c, id := open(t)
	if e := c.Load(id); e.Session != nil || len(e.Tokens) != 0 {
		t.Fatalf("empty cache: %+v", e)
	}
	// A writer killed mid-write leaves its temporary file; the next Store
	// (under the lock) clears it.
	stale := filepath.Join(c.Dir(), "."+id.Key()+".json.tmp-123")
	os.WriteFile(stale, []byte("{half"), 0o600)
	if err := c.Store(id, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("stale temporary file kept")
	}
	e := c.Load(id)
	tok, ok := e.Token("us-east-1")
	if !ok || tok.Password.Reveal() != "pw" || !tok.Expires.Equal(t0.Add(12*time.Hour)) || e.Session == nil || e.Session.SessionToken.Reveal() != "st" {
		t.Fatalf("round trip: %+v %+v", e, tok)
	}
	fi, _ := os.Stat(c.Path(id))
	di, _ := os.Stat(c.Dir())
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes: file %o dir %o", fi.Mode().Perm(), di.Mode().Perm())
	}
	if strings.Contains(filepath.Base(c.Path(id)), "111122223333") {
		t.Error("file name shows the role")
	}
	entries, _ := os.ReadDir(c.Dir())
	for _, de := range entries {
		if strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", de.Name())
		}
	}
}

func TestCorruptFilesAreMisses(t *testing.T) {
	c, id := open(t)
	if err := c.Store(id, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(c.Path(id))
	for name, body := range map[string][]byte{
		"truncated":     good[:len(good)/2],
		"empty":         {},
		"garbage":       []byte("\x00\xff garbage"),
		"wrong version": bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 7`), 1),
		"no password":   bytes.Replace(good, []byte(`"password": "pw"`), []byte(`"password": ""`), 1),
		"not an object": []byte(`[1,2,3]`),
	} {
		if err := os.WriteFile(c.Path(id), body, 0o600); err != nil {
			t.Fatal(err)
		}
		if e := c.Load(id); e.Session != nil || len(e.Tokens) != 0 {
			t.Errorf("%s: loaded %+v, want a miss", name, e)
		}
		if err := c.Store(id, sampleEntry()); err != nil {
			t.Errorf("%s: rebuilding: %v", name, err)
		}
		if _, ok := c.Load(id).Token("us-east-1"); !ok {
			t.Errorf("%s: not rebuilt", name)
		}
	}
}

func TestWideModesAreTightened(t *testing.T) {
	c, id := open(t)
	if err := c.Store(id, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	os.Chmod(c.Path(id), 0o644)
	os.Chmod(c.Dir(), 0o755)
	if _, ok := c.Load(id).Token("us-east-1"); !ok {
		t.Fatal("a 0644 file of ours should still load (after tightening)")
	}
	if fi, _ := os.Stat(c.Path(id)); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %o not tightened", fi.Mode().Perm())
	}
	if _, err := Open(WithDir(c.Dir())); err != nil {
		t.Fatal(err)
	}
	if di, _ := os.Stat(c.Dir()); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %o not tightened", di.Mode().Perm())
	}
}

func TestOpenResolvesDirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", filepath.Join(tmp, "home"))
	c, err := Open()
	if err != nil || c.Dir() != filepath.Join(tmp, "home", ".cache", "currents") {
		t.Fatalf("HOME: %v %v", c, err)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "xdg"))
	if c, _ := Open(); c.Dir() != filepath.Join(tmp, "xdg", "currents") {
		t.Errorf("XDG: %s", c.Dir())
	}
	t.Setenv(EnvDir, filepath.Join(tmp, "explicit"))
	if c, _ := Open(); c.Dir() != filepath.Join(tmp, "explicit") {
		t.Errorf("%s: %s", EnvDir, c.Dir())
	}

	// No HOME (a service): the user database's home, as config lookup finds it (dirs.Home).
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	t.Setenv("TMPDIR", tmp)
	defer dirs.SetRootCache(filepath.Join(tmp, "var-cache-currents"))()
	pwHome := filepath.Join(tmp, "pw-home")
	defer dirs.SetCurrentUser(func() (*user.User, error) { return &user.User{Uid: "4242", HomeDir: pwHome}, nil })()
	if c, err := Open(); err != nil || c.Dir() != filepath.Join(pwHome, ".cache", "currents") {
		t.Errorf("no HOME: %v %v; want the user database's home", c, err)
	}
	// A home that is a file (as unusable as read-only, even for root): fall back, and say so as a warning.
	blocker := filepath.Join(tmp, "file-home")
	os.WriteFile(blocker, nil, 0o600)
	t.Setenv("HOME", blocker)
	pwHome = blocker
	var logs bytes.Buffer
	c, err = Open(WithLogger(logging.New(&logs, slog.LevelWarn, "test")))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(tmp, "var-cache-currents")
	if os.Geteuid() != 0 {
		want = filepath.Join(tmp, "currents-"+strconv.Itoa(os.Geteuid())+"-")
	}
	if !strings.HasPrefix(c.Dir(), want) || !strings.Contains(logs.String(), "using "+c.Dir()+" instead") || !strings.Contains(logs.String(), blocker) {
		t.Errorf("fallback dir %s (want %s), logs: %s", c.Dir(), want, logs.String())
	}
	if again, err := Open(); err != nil || again.Dir() != c.Dir() {
		t.Errorf("the fallback moved: %v %v, was %s", again, err, c.Dir())
	}
	// An explicit directory that cannot be used is an error, not a silent fallback.
	t.Setenv(EnvDir, filepath.Join(blocker, "sub"))
	if _, err := Open(); err == nil || !strings.Contains(err.Error(), EnvDir) {
		t.Errorf("unusable %s: err = %v", EnvDir, err)
	}
}

func TestLockExcludes(t *testing.T) {
	c, id := open(t)
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			unlock, err := c.Lock(context.Background(), id)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Errorf("%d holders at once", maxInside.Load())
	}
	unlock, _ := c.Lock(context.Background(), id)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Lock(ctx, id); err == nil || !strings.Contains(err.Error(), "cache lock") {
		t.Errorf("lock held elsewhere: err = %v", err)
	}
}

// TestFullDisk fills a tiny tmpfs: the write fails with a clear error and the
// previous file survives byte for byte.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	c, err := Open(WithDir(filepath.Join(dir, "cache")))
	if err != nil {
		t.Fatal(err)
	}
	id := IdentityFor(target(nil), env(nil))
	if err := c.Store(id, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(c.Path(id))
	filler, _ := os.Create(filepath.Join(dir, "filler"))
	filler.Write(make([]byte, 64<<10)) // fails once the tmpfs is full, which is the point
	filler.Close()

	big := sampleEntry()
	big.SetToken("eu-west-1", credential.Token{Username: "AWS", Password: secret.New(strings.Repeat("p", 32<<10)), Issued: t0, Expires: t0.Add(time.Hour)})
	err = c.Store(id, big)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "previous cache file is unchanged") || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("Store on a full disk: %v", err)
	}
	after, _ := os.ReadFile(c.Path(id))
	if !bytes.Equal(before, after) {
		t.Error("the old cache file changed")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(c.Dir(), "*.tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestWebIdentityIdentity(t *testing.T) {
	role := "arn:aws:iam::111122223333:role/ci"
	key := func(e *config.Entry, getenv func(string) string) string { return IdentityFor(target(e), getenv).Key() }
	gh := key(&config.Entry{RoleARN: role, WebIdentity: config.WebIdentityGitHub}, env(nil))
	if gh == key(&config.Entry{RoleARN: role}, env(nil)) || gh == key(&config.Entry{RoleARN: role, WebIdentity: config.WebIdentityCircleCI}, env(nil)) {
		t.Error("a web identity shares the cache file of another source")
	}
	if gh == key(&config.Entry{RoleARN: role, WebIdentity: config.WebIdentityGitHub, WebIdentityAudience: "other"}, env(nil)) {
		t.Error("the audience does not change the identity")
	}
	// Only the job's identity (idtoken.Job) changes the key: not the
	// runner's request URL, nor another CI's variables.
	if gh != key(&config.Entry{RoleARN: role, WebIdentity: config.WebIdentityGitHub}, env(map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x", "CIRCLE_OIDC_TOKEN": "y"})) {
		t.Error("CI variables change the identity")
	}
	k8s := IdentityFor(target(&config.Entry{RoleARN: role, WebIdentity: config.WebIdentityKubernetes}), env(nil))
	a, b := k8s.WithServiceAccount("ns/a/uid1", "t1"), k8s.WithServiceAccount("ns/b/uid2", "t1")
	if a.Key() == b.Key() || a.Key() == k8s.Key() || a.Describe()["service_account"] != "ns/a/uid1" {
		t.Error("service accounts share a cache file")
	}
}

type fixedClock struct{ at *time.Time }

func (c fixedClock) Now() time.Time { return *c.at }

// Harden, defect 8: sessions of web_identity: kubernetes are kept per token (a session serves only the token
// AWS accepted it for), so the files of a service account's earlier tokens are removed once nothing in them
// can serve, and the others are kept.
func TestAServiceAccountsEarlierTokensDoNotPileUp(t *testing.T) {
	now := t0
	c, err := Open(WithDir(t.TempDir()), WithClock(fixedClock{&now}))
	if err != nil {
		t.Fatal(err)
	}
	base := IdentityFor(target(&config.Entry{RoleARN: "arn:aws:iam::111122223333:role/pod", WebIdentity: "kubernetes"}), env(nil))
	tok := func(until time.Time) *Entry {
		e := &Entry{}
		e.SetToken("us-east-1", credential.Token{Username: "AWS", Password: secret.New("p"), Issued: until.Add(-time.Hour), Expires: until})
		return e
	}
	old := base.WithServiceAccount("prod/a/uid", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	live := base.WithServiceAccount("prod/a/uid", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
	other := base.WithServiceAccount("prod/b/uid", "cccccccccccccccccccccccccccccccc")
	for _, s := range []struct {
		id    Identity
		until time.Time
	}{{old, t0.Add(time.Hour)}, {live, t0.Add(3 * time.Hour)}, {other, t0.Add(time.Hour)}} {
		if err := c.Store(s.id, tok(s.until)); err != nil {
			t.Fatal(err)
		}
	}
	if old.Key() == live.Key() || !strings.HasPrefix(live.Key(), strings.Split(old.Key(), "-")[0]+"-") {
		t.Fatalf("keys %s %s: one account's tokens must share a stem and differ", old.Key(), live.Key())
	}
	now = t0.Add(2 * time.Hour)
	// A dead token's files whose lock someone holds are left alone until it is let go.
	held := base.WithServiceAccount("prod/a/uid", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
	if err := c.Store(held, tok(t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	h, err := c.TakeLock(context.Background(), held)
	if err != nil {
		t.Fatal(err)
	}
	newest := base.WithServiceAccount("prod/a/uid", "dddddddddddddddddddddddddddddddd")
	if err := c.Store(newest, tok(now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{c.Path(held), c.LockPath(held)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s went while its lock was held: %v", filepath.Base(p), err)
		}
	}
	h.Unlock()
	if err := c.Store(newest, tok(now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{c.Path(held), c.LockPath(held)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s kept once its lock was let go", filepath.Base(p))
		}
	}
	for _, s := range []struct {
		id   Identity
		kept bool
	}{{old, false}, {live, true}, {other, true}, {newest, true}} {
		if _, err := os.Stat(c.Path(s.id)); (err == nil) != s.kept {
			t.Errorf("%s %s kept: %v, want %v", s.id.ServiceAccount, s.id.Token[:4], err == nil, s.kept)
		}
	}
}

// TestASharedDirectoryIsNotMadePrivate: CURRENTS_CACHE_DIR naming a
// directory others use (/tmp, or /var/cache for /var/cache/currents) had its
// mode changed to 0700 (a sticky one losing its sticky bit too): run as
// root, the helper shut every other user and service out of it. Such a
// directory is refused, as it is, with the fix; one of the helper's own
// (only its user's files in it) is still tightened, even from 0777.
func TestASharedDirectoryIsNotMadePrivate(t *testing.T) {
	for name, c := range map[string]struct {
		mode    fs.FileMode
		sub     bool
		foreign bool
		want    string // "" when it is tightened
	}{
		"sticky, world-writable":   {0o777 | fs.ModeSticky, false, false, "sticky"},
		"holding directories":      {0o755, true, false, "holds directories"},
		"holding others' files":    {0o777, false, true, "files of other users"},
		"the helper's own, 0777":   {0o777, false, false, ""},
		"the helper's own, sticky": {0o700 | fs.ModeSticky, false, false, ""},
	} {
		dir := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "mine.json"), nil, 0o600)
		if c.sub {
			os.Mkdir(filepath.Join(dir, "another-programs-cache"), 0o755)
		}
		if c.foreign {
			other := filepath.Join(dir, "someone-elses")
			os.WriteFile(other, nil, 0o644)
			if err := os.Chown(other, os.Getuid()+1, -1); err != nil {
				t.Logf("%s: not run: only root can give a file to another user (%v)", name, err)
				continue
			}
		}
		if err := os.Chmod(dir, c.mode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(WithDir(dir))
		fi, _ := os.Stat(dir)
		switch {
		case c.want == "" && (err != nil || fi.Mode().Perm() != 0o700):
			t.Errorf("%s: Open = %v, mode %v; want it tightened to 0700", name, err, fi.Mode())
		case c.want == "":
		case err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Join(dir, "currents")):
			t.Errorf("%s: Open = %v; want a refusal that says %q and suggests %s", name, err, c.want, filepath.Join(dir, "currents"))
		case fi.Mode()&(fs.ModePerm|fs.ModeSticky) != c.mode:
			t.Errorf("%s: mode changed to %v", name, fi.Mode())
		}
	}
}
