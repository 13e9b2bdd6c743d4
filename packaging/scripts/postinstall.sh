#!/bin/sh
# Package post-install (deb: postinst configure [OLD]; rpm: %post with $1 = 1 on install, 2 on upgrade).
# It edits no one's config.json or currents.yaml, and enables nothing: the administrator decides.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	# An upgrade carries on with the new binaries: the timer if it runs, and every running watch
	# instance, enabled or only started (the pattern matches the units in memory). Without waiting:
	# a watch finishes a deploy under way before it stops, which must not hold the package manager.
	systemctl try-restart currents-refresh.timer >/dev/null 2>&1 || true
	systemctl --no-block try-restart 'currents-watch@*.service' >/dev/null 2>&1 || true
fi
case "$1" in
configure) [ -z "$2" ] || exit 0 ;; # deb upgrade: said already
2) exit 0 ;;                         # rpm upgrade
esac
cat <<'MSG'

Currents ECR tools are installed: docker-credential-currents, and the plugin (docker currents).
Next, as the user that runs docker (root for services and cron):

  docker-credential-currents configure --registry HOST --role-arn ARN [--external-id-file FILE]
  docker-credential-currents doctor
  systemctl enable --now currents-refresh.timer          # keep root's tokens fresh
  # a user's docker: systemctl --user enable --now currents-refresh.timer

Documentation: /usr/share/doc/currents-ecr-tools/README.md
MSG
