#!/usr/bin/env bash
# make dist: release artifacts for linux/amd64 and linux/arm64 in $DIST (default dist/):
#   currents-ecr-tools_VERSION_linux_ARCH.tar.gz   the three binaries, README, LICENSE, systemd units
#   currents-ecr-tools_VERSION-1_ARCH.deb           built by nfpm
#   currents-ecr-tools-VERSION-1.ARCH.rpm           built by nfpm
#   SHA256SUMS
#
# Static binaries (CGO_ENABLED=0). Reproducible: the same commit gives the same bytes — -trimpath, no VCS
# stamp, SOURCE_DATE_EPOCH (the commit's time unless set) for every mtime in the archives and packages,
# sorted tar members with numeric root ownership, gzip without a name or time.
#
# The version comes from git tags: on tag vX.Y.Z it is X.Y.Z; N commits after it X.Y.Z+gitN.HASH (sorts
# after X.Y.Z for dpkg and rpm); with no tag 0.0.0+gitN.HASH; ".dirty" marks uncommitted changes.
#
# nfpm is pinned and run through the Go module proxy (NFPM, default the version below); nothing is added to
# this module's go.mod.
set -Eeuo pipefail

GO=${GO:-go}
DIST=${DIST:-dist}
ARCHES=${ARCHES:-amd64 arm64}
NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0}
NAME=currents-ecr-tools
MODULE=github.com/currentsdev/currents

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ "$DIST" = /* ]] || DIST=$repo/$DIST

version() {
	local tag n hash dirty=
	hash=$(git rev-parse --short=12 HEAD)
	git diff --quiet HEAD -- 2>/dev/null || dirty=.dirty
	if tag=$(git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null); then
		n=$(git rev-list --count "$tag"..HEAD)
		if [[ $n == 0 ]]; then
			echo "${tag#v}${dirty:++dirty}"
			return
		fi
		echo "${tag#v}+git$n.$hash$dirty"
	else
		echo "0.0.0+git$(git rev-list --count HEAD).$hash$dirty"
	fi
}

VERSION=${VERSION:-$(version)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
export SOURCE_DATE_EPOCH VERSION
echo "dist: $NAME $VERSION, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, into $DIST"

work=$(mktemp -d "${TMPDIR:-/tmp}/currents-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$DIST"
mkdir -p "$DIST"
umask 022

# nfpm is built once (from the module proxy, then the build cache) rather than `go run` per package.
GOBIN=$work/tools CGO_ENABLED=0 GOFLAGS= $GO install "$NFPM"
nfpm=$work/tools/nfpm

for arch in $ARCHES; do
	stage=$work/$arch/${NAME}_${VERSION}_linux_$arch
	mkdir -p "$stage/systemd/system" "$stage/systemd/user"
	for pkg in credhelper/docker-credential-currents credhelper/docker-credential-currents-aws composeplugin/docker-currents composeplugin/currents-plugin; do
		CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOFLAGS= $GO build -trimpath -buildvcs=false -tags osusergo,netgo,grpcnotrace \
			-ldflags "-s -w -X $MODULE/internal/product.Version=$VERSION" -o "$stage/$(basename "$pkg")" "./$pkg"
	done
	install -m 0644 README.md LICENSE "$stage/"
	install -m 0644 packaging/systemd/system/* "$stage/systemd/system/"
	install -m 0644 packaging/systemd/user/* "$stage/systemd/user/"
	find "$stage" -type d -exec chmod 0755 {} +

	tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu \
		-C "$work/$arch" -cf - "$(basename "$stage")" | gzip -n -9 >"$DIST/${NAME}_${VERSION}_linux_$arch.tar.gz"

	for packager in deb rpm; do
		ARCH=$arch DIST_ROOT=$stage "$nfpm" package --config packaging/nfpm.yaml --packager "$packager" --target "$DIST/" >/dev/null
	done
done

(cd "$DIST" && sha256sum -- *.tar.gz *.deb *.rpm >SHA256SUMS)
echo "dist: done"
(cd "$DIST" && ls -l -- *.tar.gz *.deb *.rpm SHA256SUMS | awk '{print "  " $5 "\t" $9}')
