#!/bin/sh
# Package post-remove: systemd forgets the removed units.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
