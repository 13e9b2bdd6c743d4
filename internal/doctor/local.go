package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/product"
)

func (r *run) checkHelper() {
	path, err := r.d.lookPath(helperBinary)
	if err != nil {
		r.add(CheckHelper, Fail, helperBinary+" is not on PATH, so docker cannot run it",
			"run `sudo make install` (puts it in /usr/local/bin), or add the directory holding "+helperBinary+" to PATH")
		return
	}
	real := path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		real = p
	}
	aws := filepath.Join(filepath.Dir(real), awsHelperBinary)
	env := r.d.getenv(product.EnvAWSHelper)
	if env != "" {
		aws = env
	}
	if st, err := os.Stat(aws); err != nil || st.Mode()&0o111 == 0 || st.IsDir() {
		if env != "" {
			r.add(CheckHelper, Fail, fmt.Sprintf("%s found at %s, but %s=%s, its AWS half, is missing or not executable", helperBinary, path, product.EnvAWSHelper, env),
				fmt.Sprintf("point %s at the %s binary, or unset it", product.EnvAWSHelper, awsHelperBinary))
			return
		}
		r.add(CheckHelper, Fail, fmt.Sprintf("%s found at %s, but its AWS half %s is missing or not executable", helperBinary, path, aws),
			"reinstall with `make install` so both binaries sit side by side")
		return
	}
	// Run it as docker would, so a binary for the wrong platform or a broken copy shows here, not at pull time.
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "version").Output()
	if err != nil {
		r.add(CheckHelper, Fail, fmt.Sprintf("%s found at %s, but `%s version` fails: %v", helperBinary, path, helperBinary, err),
			"reinstall with `make install` (a binary for another platform, or a truncated copy, cannot run)")
		return
	}
	detail := fmt.Sprintf("docker runs %s (AWS half %s)", path, aws)
	if v := strings.TrimSpace(string(out)); v != "" {
		detail += ", " + v
	}
	switch dir := filepath.Dir(path); {
	case dir == "/usr/bin" || dir == "/bin":
	case onServicePath(dir):
		detail += "; note: cron jobs run with PATH=/usr/bin:/bin, so a crontab that runs docker needs PATH=" + dir + ":/usr/bin:/bin at its top"
	default:
		detail += "; note: systemd services and cron use a PATH without " + dir + ", install with `sudo make install` for them"
	}
	r.add(CheckHelper, Pass, detail, "")
}

// onServicePath reports whether dir is on the PATH systemd gives services.
func onServicePath(dir string) bool {
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if d == dir {
			return true
		}
	}
	return false
}

// dockerConfig loads config.json for the docker-config check; ok is false
// when it cannot, which the check then fails with the fix.
func (r *run) dockerConfig() (f *dockerconfig.File, path string, ok bool) {
	path, err := dirs.DockerConfigFile("")
	if err != nil {
		r.add(CheckDocker, Fail, err.Error(), "set DOCKER_CONFIG or HOME")
		return nil, "", false
	}
	if f, err = dockerconfig.Load(path); err != nil {
		r.add(CheckDocker, Fail, err.Error(), "fix the JSON at the position shown, or move the file aside and run configure again")
		return nil, "", false
	}
	return f, path, true
}

func (r *run) checkDocker() {
	f, path, ok := r.dockerConfig()
	if !ok {
		return
	}
	configure := fmt.Sprintf("run `%s configure --registry %s --role-arn ROLE_ARN`", helperBinary, r.host)
	// Newer docker CLIs take DOCKER_AUTH_CONFIG's entries before config.json's credHelpers.
	if keys, err := dockerconfig.EnvAuthKeys(r.d.getenv(dockerconfig.EnvAuthConfig), r.host); err != nil || len(keys) > 0 {
		detail := fmt.Sprintf("%s has an entry %q for %s, which docker uses instead of %s", dockerconfig.EnvAuthConfig, strings.Join(keys, ", "), r.host, helperBinary)
		if err != nil {
			detail = err.Error() + "; docker ignores it and prints an error"
		}
		r.add(CheckDocker, Fail, detail, "unset "+dockerconfig.EnvAuthConfig+", or remove "+r.host+" from it")
		return
	}
	h, ok := f.CredHelper(r.host)
	switch {
	case !ok && !f.Exists():
		r.add(CheckDocker, Fail, path+" does not exist, so docker does not know to ask "+helperBinary, configure)
	case !ok:
		r.add(CheckDocker, Fail, fmt.Sprintf("%s has no credHelpers entry for %s", path, r.host), configure)
	case h != product.HelperName:
		r.add(CheckDocker, Fail, fmt.Sprintf("%s sends %s to docker-credential-%s, not to %s", path, r.host, h, helperBinary), configure)
	default:
		detail := fmt.Sprintf("%s: credHelpers[%q] = %q", path, r.host, product.HelperName)
		if n := len(f.StaticAuths(r.host)); n > 0 {
			detail += fmt.Sprintf("; note: a stale static auths entry for the host remains (remove with `%s configure ... --remove-stale-auth`)", helperBinary)
		}
		r.add(CheckDocker, Pass, detail, "")
	}
}

// checkDockerAny checks that config.json sends some registry to this helper (Unconfigured's docker-config).
func (r *run) checkDockerAny() {
	f, path, ok := r.dockerConfig()
	if !ok {
		return
	}
	if hosts := f.CredHelperHosts(product.HelperName); len(hosts) > 0 {
		r.add(CheckDocker, Pass, fmt.Sprintf("%s sends %s to %s", path, strings.Join(hosts, ", "), helperBinary), "")
		return
	}
	r.add(CheckDocker, Fail, fmt.Sprintf("%s has no credHelpers entry naming %s, so docker never asks it", path, helperBinary),
		fmt.Sprintf("correct currents.yaml (see currents-yaml), then run `%s configure --registry HOST --role-arn ROLE_ARN` for each registry", helperBinary))
}

func (r *run) checkConfig() bool {
	cfg, err := r.d.config()
	if err != nil {
		r.add(CheckConfig, Fail, err.Error(), "correct the file as the message says (file, line, entry and key are named), then run doctor again")
		return false
	}
	r.cfg = cfg
	t, ok := cfg.Lookup(r.host)
	if !ok {
		r.add(CheckConfig, Fail, fmt.Sprintf("%s is not an ECR hostname and %s has no entry for it", r.host, cfg.Path),
			fmt.Sprintf("run `%s configure --registry %s --account ACCOUNT --region REGION --role-arn ROLE_ARN`", helperBinary, r.host))
		return false
	}
	r.target = t
	if t.Entry == nil {
		r.passConfig(fmt.Sprintf("%s has no entry for %s: the AWS SDK default credential chain is used (account %s, region %s)",
			cfg.Path, r.host, t.Registry.Account, t.Registry.Region))
		return true
	}
	e := t.Entry
	parts := []string{fmt.Sprintf("account %s, region %s", t.Registry.Account, t.Registry.Region)}
	if e.RoleARN != "" {
		parts = append(parts, "role "+e.RoleARN)
	}
	if e.ExternalID != "" {
		parts = append(parts, "external ID set")
	}
	if e.Profile != "" {
		parts = append(parts, "profile "+e.Profile)
	}
	if e.WebIdentityTokenFile != "" {
		parts = append(parts, "web identity token "+e.WebIdentityTokenFile)
	}
	r.passConfig(t.Where() + ": " + strings.Join(parts, ", "))
	return true
}

// passConfig records a usable currents.yaml: a pass, unless the file lets others read an external ID. That
// fails the check without stopping the AWS checks, which the entry still serves.
func (r *run) passConfig(detail string) {
	if exposed := exposedSecret(r.cfg); exposed != "" {
		r.add(CheckConfig, Fail, detail+"; but "+exposed, "chmod 600 "+r.cfg.Path+" (configure does this too)")
		return
	}
	r.add(CheckConfig, Pass, detail, "")
}

// exposedSecret says how cfg's file exposes an external ID to other users ("" when it does not).
func exposedSecret(cfg *config.Config) string {
	if !cfg.Found {
		return ""
	}
	holds := false
	for _, e := range cfg.Registries {
		holds = holds || e.ExternalID != ""
	}
	st, err := os.Stat(cfg.Path)
	if !holds || err != nil || st.Mode().Perm()&0o044 == 0 {
		return ""
	}
	return fmt.Sprintf("%s holds an external ID and is readable by other users (mode %04o)", cfg.Path, st.Mode().Perm())
}

func (r *run) checkCache() {
	c, err := r.d.cache()
	if err != nil {
		r.add(CheckCache, Fail, err.Error(), "set CURRENTS_CACHE_DIR to a directory this user can write (it is created 0700)")
		return
	}
	dir := c.Dir()
	probe, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		r.add(CheckCache, Fail, fmt.Sprintf("cannot write in %s: %v", dir, err), "make "+dir+" writable by this user, or set CURRENTS_CACHE_DIR")
		return
	}
	probe.Close()
	os.Remove(probe.Name())
	st, err := os.Stat(dir)
	if err != nil {
		r.add(CheckCache, Fail, err.Error(), "set CURRENTS_CACHE_DIR to a directory this user can write")
		return
	}
	if st.Mode().Perm() != 0o700 {
		r.add(CheckCache, Fail, fmt.Sprintf("%s has mode %v, not 0700: other users could read cached tokens", dir, st.Mode().Perm()), "chmod 700 "+dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	var wide []string
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o077 != 0 {
			wide = append(wide, e.Name())
		}
	}
	if len(wide) > 0 {
		r.add(CheckCache, Fail, fmt.Sprintf("%s holds files readable by others: %s", dir, strings.Join(wide, ", ")), "chmod 600 "+dir+"/*")
		return
	}
	r.add(CheckCache, Pass, fmt.Sprintf("%s is writable, mode 0700, files 0600", dir), "")
}
