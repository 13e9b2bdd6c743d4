// Package e2e is the real-engine tier: scenarios that drive the real docker CLI, a private dockerd, the compose v2
// plugin and Debian's distribution registry behind the ECR stand-in, through the project's own binaries.
//
// The scenarios carry the build tag e2e so that `go test ./...` stays engine-free; `make e2e` runs e2e/run.sh, which
// starts the engine, the registry and the stand-in, and passes them to `go test -tags e2e ./e2e/` in E2E_* variables.
// healthsvc/ is the one program inside every image the tier builds.
package e2e
