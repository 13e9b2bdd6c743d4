// Package internal holds every package of the Currents ECR tools. The
// binaries live outside it: credhelper/docker-credential-currents (the lean
// helper docker runs before every pull), credhelper/docker-credential-currents-aws
// (its AWS half), composeplugin/docker-currents (the plugin's small front,
// which docker runs), composeplugin/currents-plugin (the `docker currents`
// plugin, which the front execs, and the compose shim) and
// internal/standin/currents-standin (the stand-in).
// packaging/ holds what `make dist` ships besides them (nfpm.yaml, the systemd
// units, the package scripts) and the packaging tier (make package-test).
//
// The map, one line per package, in the order data flows through them.
//
// Shared by everything:
//
//	product       the names: commands, binaries, credHelpers name, module, version
//	dirs          where files live: home, docker's config dir, config.json, currents.yaml, state dir; docker's plugin search order
//	fix           errors that carry their fix, and the one way to split them for rendering
//	secret        a token or key that never prints
//	logging       the helpers' slog logger from CURRENTS_LOG
//	clock         the time source expiry decisions read (injectable in tests)
//	atomicfile    replace a file atomically, keeping mode and owner, with a backup
//	rawfile       small files read whole with plain system calls (the warm get's reads)
//
// Credential helper: server URL → registry → config → cache → AWS → answer.
//
//	partition     AWS partitions: their regions, registry DNS suffixes, account and region shapes
//	ecrhost       a server URL normalised to a host; ECR hostnames recognised
//	settings      what currents.yaml says: entries, timeout, a host mapped to its Target; its compiled form
//	config        currents.yaml the file: parse, validate, edit, print (the AWS binary's; the lean one reads settings' compiled form)
//	credential    the AWS session and registry token, and the refresh policy
//	tokencache    the per-principal cache file, its identity and its lock; currents.yaml's compiled form kept beside
//	idtoken       the OIDC ID token a CI job or the kubelet gives, its claims, which CI this is
//	awsapi        the AWS calls (STS, ECR, ECR Public), with errors that carry a fix
//	refresh       renewing a token: in-process under the lock, or through the AWS binary; `refresh`'s renewals
//	protocol      docker's credential-helper protocol: get, store, erase, list
//	dockerconfig  docker's config.json, edited keeping every byte it does not own
//	configure     setting a registry up: its currents.yaml entry and credHelpers line, both files at once
//	kubelet       the kubelet's image credential provider protocol, answered from the same cache
//	doctor        the diagnosis of one registry, step by step as a pull depends on it; the effective configuration
//	status        each registry's sessions, tokens and last refreshes, from the cache alone; Prometheus text
//	statuscmd     `status`'s command line, shared by the lean binary (which answers it) and the AWS one
//	credhelpercmd the helper's command line: flags in, one domain call, output and exit code
//
// Plugin: compose project → images → credentials → probe → report → action.
//
//	exitcode      the exit statuses the plugin, its front and the compose shim share: usage error, cannot run, interrupted
//	startup       the full plugin's start: no garbage collection while its many packages initialise
//	front         docker-currents: docker's metadata question answered without the plugin's start-up (as the compose shim: what it only passes on goes straight to compose); everything else exec'd to the plugin beside it
//	cliflags      reading a wrapped command line with the real flag definitions
//	envfile       .env files read and edited as compose reads them (compose-go's dotenv)
//	stack         a compose project loaded as compose loads it (a compose file on stdin read again by each load, and by compose); its images, diagnosed
//	keychain      registry credentials exactly as the docker CLI finds them, and which entry gave them
//	digestcache   small values kept between runs by the digest that names them (manifests, platforms)
//	insecure      which registries docker reaches without HTTPS by default (loopback only); HTTPS to every other, for probe and mirror
//	probe         proving images pullable: manifests (one GET each, per-registry limit), platforms (remembered by digest), an index's platform manifest (a HEAD), failures explained
//	check         the check of a stack and its report (table, JSON, quiet)
//	mirror        copying images registry to registry, keeping digests; a stack's plan and env edits
//	iampolicy     the IAM documents a stack's repositories need, and those repositories
//	compose       docker compose as docker runs it: its plugin found, its command line split, up handed over
//	shim          the opt-in compose shim: install, uninstall, status, and its main
//	queue         the SQS queue of ECR push events watch reads: receive, delete, the events inside
//	journal       watch's per-project record: digests per service, failed digests, history of actions
//	watch         keeping a stack current: events and polls, settle, mirror, deploy with compose, rollback
//	plugincmd     the plugin's command line: flags in, one domain call, output and exit code
//
// Test infrastructure:
//
//	standin       a wire-accurate AWS stand-in (STS, ECR, SQS, EventBridge) and an ECR-style registry front
//	testbin       the product's binaries built for tests once per checkout, relinked only when changed
package internal
