// Package kubelettest drives the built docker-credential-currents through
// the kubelet's own image credential provider code,
// k8s.io/kubernetes/pkg/credentialprovider/plugin: its config loading and
// validation, its exec of the plugin, its decoding and its cache decide
// whether our answers are accepted. It is a module of its own so the main
// module never requires Kubernetes.
package kubelettest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/credentialprovider"
	"k8s.io/kubernetes/pkg/credentialprovider/plugin"
)

// env is the stand-in's env file; bins are our binaries and the stand-in.
var (
	env      map[string]string
	binDir   string // the kubelet's --image-credential-provider-bin-dir
	execLog  string // one line per plugin exec
	klogFile string // the kubelet's log
	repoRoot string
)

const (
	externalID = "ext-kubelet-1"
	account    = "513558712013"
	role1      = "arn:aws:iam::" + account + ":role/currents-pull"
	role2      = "arn:aws:iam::" + account + ":role/currents-pull-2"
	refused    = "arn:aws:iam::" + account + ":role/currents-refused"
	podRole    = "arn:aws:iam::" + account + ":role/currents-pods"
	saIssuer   = "https://oidc.eks.us-east-1.amazonaws.com/id/KUBELETTEST"
)

// kubeletLog is what the kubelet logged so far.
func kubeletLog() string {
	b, err := os.ReadFile(klogFile)
	if err != nil {
		return "(the kubelet's log: " + err.Error() + ")"
	}
	return string(b)
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if cfg := os.Getenv(readmeConfigEnv); cfg != "" {
		// A child of TestReadmeConfig: the kubelet registers the README's config alone.
		if err := plugin.RegisterCredentialProviderPlugins(cfg, os.Getenv(readmeBinEnv), serviceAccountToken, serviceAccount); err != nil {
			fmt.Fprintln(os.Stderr, "the kubelet refuses the README's config:", err)
			return 1
		}
		return 0
	}
	tmp, err := os.MkdirTemp("", "currents-kubelettest-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	repoRoot, _ = filepath.Abs("../..")
	out := filepath.Join(tmp, "bin")
	binDir = filepath.Join(tmp, "plugins")
	os.MkdirAll(binDir, 0o755)
	// Built as `make build` builds them.
	for _, pkg := range []string{"./credhelper/docker-credential-currents", "./credhelper/docker-credential-currents-aws", "./internal/standin/currents-standin"} {
		cmd := exec.Command("go", "build", "-trimpath", "-tags=osusergo,netgo", "-o", out+"/", pkg)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
			return 2
		}
	}
	// The kubelet finds the plugin by providers[].name in its bin dir. A
	// wrapper under that name counts the kubelet's execs, then becomes our
	// binary (the AWS half is found through CURRENTS_AWS_HELPER).
	execLog = filepath.Join(tmp, "execs")
	for _, name := range []string{"docker-credential-currents", "currents-pods"} {
		wrapper := fmt.Sprintf("#!/bin/sh\necho %s >> %q\nexec %q \"$@\"\n", name, execLog, filepath.Join(out, "docker-credential-currents"))
		if err := os.WriteFile(filepath.Join(binDir, name), []byte(wrapper), 0o755); err != nil {
			panic(err)
		}
	}

	// The stand-in, as a process: three roles of the vendor (one refused
	// below), and a role a cluster's service accounts assume.
	envFile := filepath.Join(tmp, "standin.env")
	trust := filepath.Join(tmp, "pods-trust.json")
	host := strings.TrimPrefix(saIssuer, "https://")
	os.WriteFile(trust, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::`+account+`:oidc-provider/`+host+`"},`+
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"`+host+`:aud":"sts.amazonaws.com"},"StringLike":{"`+host+`:sub":"system:serviceaccount:shop:*"}}}]}`), 0o600)
	standin := exec.Command(filepath.Join(out, "currents-standin"), "-env-file", envFile, "-account", account, "-external-id", externalID,
		"-role", role1, "-role", role2, "-role", refused, "-oidc-provider", saIssuer+"=sts.amazonaws.com", "-trust-policy", podRole+"="+trust)
	standin.Stderr = os.Stderr
	if err := standin.Start(); err != nil {
		panic(err)
	}
	defer func() { standin.Process.Signal(os.Interrupt); standin.Wait() }()
	if env, err = waitEnv(envFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := control(`{"refuse_role":"` + refused + `"}`); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	// The kubelet's environment: the node's AWS credentials and the
	// stand-in's endpoints; the plugin inherits it, as from a kubelet unit.
	os.Clearenv()
	os.Setenv("PATH", "/usr/bin:/bin")
	os.Setenv("HOME", filepath.Join(tmp, "home"))
	for _, k := range []string{"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ECR", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_EC2_METADATA_DISABLED"} {
		os.Setenv(k, env[k])
	}
	os.Setenv("AWS_CONFIG_FILE", filepath.Join(tmp, "no-aws-config"))
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(tmp, "no-aws-credentials"))
	os.Setenv("CURRENTS_AWS_HELPER", filepath.Join(out, "docker-credential-currents-aws"))

	// Where the README puts things on a node: currents.yaml beside the
	// kubelet config, the cache under /var/cache (here: under tmp).
	reg := env["STANDIN_REGISTRY"]
	_, port, _ := strings.Cut(reg, ":")
	yaml := filepath.Join(tmp, "currents.yaml")
	os.WriteFile(yaml, []byte(fmt.Sprintf(`registries:
  - host: 127.0.0.1:%[1]s
    account: "%[2]s"
    region: us-east-1
    role_arn: %[3]s
    external_id: %[4]s
  - host: localhost:%[1]s
    account: "%[2]s"
    region: us-east-1
    role_arn: %[5]s
    external_id: %[4]s
  - host: refused.example:%[1]s
    account: "%[2]s"
    region: us-east-1
    role_arn: %[6]s
    external_id: %[4]s
  - host: pods.example:%[1]s
    account: "%[2]s"
    region: us-east-1
    role_arn: %[7]s
    web_identity: kubernetes
`, port, account, role1, externalID, role2, refused, podRole)), 0o600)
	config := filepath.Join(tmp, "credential-provider-config.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: docker-credential-currents
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args: [kubelet]
    matchImages:
      - "*.dkr.ecr.*.amazonaws.com"
      - "127.0.0.1:%[1]s"
      - "localhost:%[1]s"
      - "refused.example:%[1]s"
    defaultCacheDuration: 1h
    env:
      - name: CURRENTS_CONFIG
        value: %[2]s
      - name: CURRENTS_CACHE_DIR
        value: %[3]s
  - name: currents-pods
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args: [kubelet]
    matchImages: ["pods.example:%[1]s"]
    defaultCacheDuration: 1h
    tokenAttributes:
      serviceAccountTokenAudience: sts.amazonaws.com
      requireServiceAccount: true
      cacheType: ServiceAccount
    env:
      - name: CURRENTS_CONFIG
        value: %[2]s
      - name: CURRENTS_CACHE_DIR
        value: %[3]s
`, port, yaml, filepath.Join(tmp, "cache"))), 0o600)

	klogFile = filepath.Join(tmp, "kubelet.log")
	klogOut, err := os.Create(klogFile)
	if err != nil {
		panic(err)
	}
	defer klogOut.Close()
	klog.LogToStderr(false)
	klog.SetOutput(klogOut)
	if err := plugin.RegisterCredentialProviderPlugins(config, binDir, serviceAccountToken, serviceAccount); err != nil {
		fmt.Fprintln(os.Stderr, "the kubelet refuses the config:", err)
		return 1
	}
	return m.Run()
}

func waitEnv(path string) (map[string]string, error) {
	for range 500 {
		if b, err := os.ReadFile(path); err == nil {
			m := map[string]string{}
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
					m[k] = strings.Trim(v, "'")
				}
			}
			return m, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("the stand-in wrote no env file")
}

func control(body string) error {
	resp, err := http.Post(env["STANDIN_URL"]+"/_standin/control", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("control %s: %s", body, b)
	}
	return nil
}

type counts struct{ AssumeRole, AssumeRoleWithWebIdentity, GetAuthorizationToken int }

func awsCounts(t *testing.T) counts {
	t.Helper()
	resp, err := http.Get(env["STANDIN_URL"] + "/_standin/counts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c counts
	json.NewDecoder(resp.Body).Decode(&c)
	return c
}

func execs() int {
	b, _ := os.ReadFile(execLog)
	return strings.Count(string(b), "\n")
}

// lookup is what the kubelet does before pulling image for a pod.
func lookup(image, ns, sa string) []credentialprovider.TrackedAuthConfig {
	kr := plugin.NewExternalCredentialProviderDockerKeyring(ns, "pod-"+sa, "pod-uid-"+sa, sa)
	auths, _ := kr.Lookup(image)
	return auths
}

// opens proves a password with an authenticated request to the stand-in's registry.
func opens(t *testing.T, user, password string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+env["STANDIN_REGISTRY"]+"/v2/", nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the registry refused the kubelet's credentials: %s", resp.Status)
	}
}

func port() string { _, p, _ := strings.Cut(env["STANDIN_REGISTRY"], ":"); return p }

// TestManyImagesTwoRegistriesAndExpiry: a node pulls many images of two
// registries (two roles); the kubelet execs the plugin once per registry,
// caches the answer for the cacheDuration we give (the helper's refresh
// point), and after it expires asks again and gets the refreshed token.
func TestManyImagesTwoRegistriesAndExpiry(t *testing.T) {
	// Short tokens so the kubelet's cache expires within the test: 8 s
	// tokens are refreshed after 6 s, so the kubelet may keep them 6 s.
	if err := control(`{"token_lifetime":"8s"}`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { control(`{"token_lifetime":"12h"}`) })
	before, c0 := execs(), awsCounts(t)
	regs := []string{"127.0.0.1:" + port(), "localhost:" + port()}
	first := map[string]string{}
	for i := range 24 {
		reg := regs[i%2]
		image := fmt.Sprintf("%s/currents/on-prem/svc-%d:staging", reg, i)
		auths := lookup(image, "default", "")
		if len(auths) != 1 || auths[0].Username != "AWS" {
			t.Fatalf("%s: %+v\nkubelet log:\n%s", image, auths, kubeletLog())
		}
		if p, seen := first[reg]; seen && p != auths[0].Password {
			t.Errorf("%s: another password within the cache duration", image)
		}
		first[reg] = auths[0].Password
		opens(t, auths[0].Username, auths[0].Password)
	}
	if got := execs() - before; got != 2 {
		t.Errorf("24 images of 2 registries: the kubelet ran the plugin %d times, want 2 (cacheKeyType Registry)", got)
	}
	if c := awsCounts(t); c.AssumeRole-c0.AssumeRole != 2 || c.GetAuthorizationToken-c0.GetAuthorizationToken != 2 {
		t.Errorf("AWS calls %+v -> %+v: want one AssumeRole and one token per registry's role", c0, c)
	}
	if first[regs[0]] == first[regs[1]] {
		t.Error("two roles answered the same token")
	}

	// The kubelet's cache expires with our cacheDuration; the next pull
	// runs the plugin, which has refreshed past its own refresh point.
	time.Sleep(6500 * time.Millisecond)
	auths := lookup(regs[0]+"/currents/on-prem/api:staging", "default", "")
	if len(auths) != 1 || auths[0].Password == first[regs[0]] {
		t.Fatalf("after the cache duration: %+v (same password: %v)", auths, len(auths) == 1 && auths[0].Password == first[regs[0]])
	}
	opens(t, auths[0].Username, auths[0].Password)
	if got := execs() - before; got != 3 {
		t.Errorf("the plugin ran %d times, want 3: the kubelet's cache must expire with cacheDuration", got)
	}
}

// TestRefusedRole: the kubelet logs our error (AWS's words, the role, the
// fix) and the pull gets no credentials.
func TestRefusedRole(t *testing.T) {
	image := "refused.example:" + port() + "/currents/on-prem/api:staging"
	if auths := lookup(image, "default", ""); len(auths) != 0 {
		t.Fatalf("a refused role gave credentials: %+v", auths)
	}
	log := kubeletLog()
	for _, want := range []string{"Failed to provide credentials for image", "docker-credential-currents: refused.example:" + port(), "AccessDenied", refused} {
		if !strings.Contains(log, want) {
			t.Errorf("the kubelet's log lacks %q:\n%s", want, log)
		}
	}
}

// TestParallelPullsOfAPod: the kubelet pulls a pod's images at once; its
// single flight is per image, so every image runs the plugin; the helper's
// lock makes them one AssumeRole and one token.
func TestParallelPullsOfAPod(t *testing.T) {
	if err := control(`{"token_lifetime":"12h"}`); err != nil {
		t.Fatal(err)
	}
	// A fresh registry for this test's own cold start: ECR's public host
	// pattern is matched, and the stand-in serves any region.
	reg := account + ".dkr.ecr.eu-west-1.amazonaws.com"
	c0 := awsCounts(t)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 16 {
		wg.Go(func() {
			if a := lookup(fmt.Sprintf("%s/svc-%d:1", reg, i), "default", ""); len(a) != 1 || a[0].Password == "" {
				errs <- fmt.Sprintf("image %d: %+v", i, a)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	c := awsCounts(t)
	// No entry for this host: the node's own credentials, no role.
	if c.AssumeRole != c0.AssumeRole || c.GetAuthorizationToken-c0.GetAuthorizationToken != 1 {
		t.Errorf("16 parallel pulls: %+v -> %+v, want 1 token and no AssumeRole", c0, c)
	}
}

// TestServiceAccountTokens: with tokenAttributes the kubelet sends the pod's
// service-account token; the helper assumes the role with it, per service
// account, and the trust policy refuses a namespace it does not name.
func TestServiceAccountTokens(t *testing.T) {
	c0 := awsCounts(t)
	image := "pods.example:" + port() + "/shop/web:1"
	for _, sa := range []string{"web", "web", "worker"} {
		auths := lookup(image, "shop", sa)
		if len(auths) != 1 {
			t.Fatalf("service account shop/%s: %+v\n%s", sa, auths, kubeletLog())
		}
		opens(t, auths[0].Username, auths[0].Password)
		if auths[0].Source == nil || auths[0].Source.ServiceAccount == nil || auths[0].Source.ServiceAccount.Name != sa {
			t.Errorf("the kubelet does not track the credentials to service account %s: %+v", sa, auths[0].Source)
		}
	}
	if c := awsCounts(t); c.AssumeRoleWithWebIdentity-c0.AssumeRoleWithWebIdentity != 2 {
		t.Errorf("two service accounts: %d AssumeRoleWithWebIdentity, want 2", c.AssumeRoleWithWebIdentity-c0.AssumeRoleWithWebIdentity)
	}
	if auths := lookup(image, "billing", "web"); len(auths) != 0 {
		t.Errorf("a namespace the trust policy does not name got credentials")
	}
	if !strings.Contains(kubeletLog(), "sub=system:serviceaccount:billing:web") {
		t.Errorf("the kubelet's log lacks the refused token's claims:\n%s", kubeletLog())
	}
}

// serviceAccount and serviceAccountToken play the API server for the
// kubelet: the account exists, and its token is signed by the cluster's
// issuer (the stand-in, whose STS trusts it as an OIDC provider).
func serviceAccount(namespace, name string) (*v1.ServiceAccount, error) {
	return &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(namespace + "-" + name + "-uid")}}, nil
}

func serviceAccountToken(namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	body, _ := json.Marshal(map[string]any{"issuer": saIssuer, "audience": tr.Spec.Audiences[0], "subject": "system:serviceaccount:" + namespace + ":" + name,
		"claims": map[string]any{"kubernetes.io": map[string]any{"namespace": namespace, "serviceaccount": map[string]any{"name": name, "uid": string(tr.UID)}}}})
	resp, err := http.Post(env["STANDIN_URL"]+"/_standin/idtoken", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v struct{ Value string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Value == "" {
		return nil, fmt.Errorf("signing a token: %v", err)
	}
	out := tr.DeepCopy()
	out.Status.Token = v.Value
	return out, nil
}

const (
	readmeConfigEnv = "KUBELETTEST_README_CONFIG"
	readmeBinEnv    = "KUBELETTEST_README_BIN"
)

// TestReadmeConfig: the README's CredentialProviderConfig, alone and with its
// tokenAttributes, passes the kubelet's own loading and validation (each in a
// process of its own: the kubelet registers providers once per process).
func TestReadmeConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Kubernetes")
	if !ok {
		t.Fatal("README.md has no Kubernetes section")
	}
	var config, attrs string
	for _, block := range strings.Split(section, "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		switch {
		case strings.HasPrefix(block, "apiVersion: kubelet.config.k8s.io/v1\n") && config == "":
			config = block
		case strings.HasPrefix(block, "    tokenAttributes:") && attrs == "":
			attrs = block
		}
	}
	if config == "" || attrs == "" || !strings.Contains(config, "args: [kubelet]") {
		t.Fatalf("the Kubernetes section lacks the config or the tokenAttributes block:\n%s\n%s", config, attrs)
	}
	for name, doc := range map[string]string{"config": config, "config with tokenAttributes": config + attrs} {
		f := filepath.Join(t.TempDir(), "config.yaml")
		os.WriteFile(f, []byte(doc), 0o600)
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), readmeConfigEnv+"="+f, readmeBinEnv+"="+binDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s\n%s", name, err, out, doc)
		}
	}
}
