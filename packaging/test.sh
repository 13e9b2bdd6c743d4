#!/usr/bin/env bash
# make package-test: the packaging tier. Builds `make dist` twice and compares every byte, installs the .deb
# on this machine with dpkg, runs both commands from PATH, verifies the systemd units, removes the package
# and checks nothing is left, compares `rpm -qlp` with the .deb, and runs the arm64 binaries under qemu.
#
# It must run as root (dpkg -i) on Debian with dpkg, rpm, qemu-user and systemd installed (.ci/run installs
# them); anything missing is a failure that says what to install, never a skip. Knobs: PACKAGE_RUN (a
# go test -run pattern), PACKAGE_KEEP=1 (keep the dist directories).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { printf 'package-test: FAIL: %s\n' "$*" >&2; exit 1; }
[ "$(uname -s)" = Linux ] || die "needs Linux"
[ "$(id -u)" -eq 0 ] || die "needs root to install the .deb (run as root, as .ci/run does)"
for cmd in dpkg rpm qemu-aarch64 systemd-analyze systemctl docker go tar gzip sha256sum; do
	command -v "$cmd" >/dev/null || die "'$cmd' is not installed (on Debian: apt-get install rpm qemu-user systemd docker.io)"
done
exec go test -tags packaging -count=1 -timeout 40m -v ${PACKAGE_RUN:+-run "$PACKAGE_RUN"} ./packaging/
