// Package packaging holds what `make dist` packages besides the binaries —
// nfpm.yaml, the systemd units, the package scripts — and, behind the build
// tag packaging, the tier that proves the packages (make package-test, as root).
package packaging
