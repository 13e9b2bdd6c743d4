#!/bin/sh
# Package pre-remove (deb: prerm remove|upgrade|...; rpm: %preun with $1 = 0 on erase, 1 on upgrade).
# On removal it stops the units and disables them, so nothing keeps running the removed binaries and
# no enablement symlink is left pointing at nothing. It never touches config.json, currents.yaml or
# the token cache.
set -e
case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
command -v systemctl >/dev/null 2>&1 || exit 0
units="currents-refresh.timer currents-refresh.service"
for link in /etc/systemd/system/*.wants/currents-watch@*.service; do
	[ -L "$link" ] && units="$units $(basename "$link")"
done
if [ -d /run/systemd/system ]; then
	# The pattern stops every watch instance systemd has loaded, the ones started but never enabled
	# included (systemctl(1): patterns match the units in memory).
	# shellcheck disable=SC2086
	systemctl stop $units 'currents-watch@*.service' >/dev/null 2>&1 || true
fi
# disable works without a running systemd too (it only removes the symlinks).
# shellcheck disable=SC2086
systemctl disable $units >/dev/null 2>&1 || true
systemctl --global disable currents-refresh.timer >/dev/null 2>&1 || true
