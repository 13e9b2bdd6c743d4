#!/usr/bin/env bash
# Install or uninstall the Currents ECR tools where docker finds them.
#
#   bash scripts/install.sh install|uninstall        (make install / make uninstall call this)
#
# Environment:
#   BIN        directory holding the built binaries (default: bin)
#   PREFIX     install prefix: helpers go to $PREFIX/bin, the plugin to $PREFIX/lib/docker/cli-plugins when
#              docker searches that (PREFIX /usr or /usr/local, or any PREFIX with DESTDIR), else to the
#              user plugin directory ${DOCKER_CONFIG:-~/.docker}/cli-plugins, so `docker currents` works.
#              Default as root: /usr/local. Default otherwise: ~/.local for the helpers and the user plugin
#              directory for the plugin.
#   BINDIR     overrides the helpers' directory
#   PLUGINDIR  overrides the plugin's directory
#   DESTDIR    staging root prepended to every path (packaging); nothing is checked against PATH then
#
# install records what it created in <prefix>/share/currents/install.manifest, so uninstall removes exactly
# those files and the directories install had to create, and nothing else.
set -euo pipefail

HELPERS=(docker-credential-currents docker-credential-currents-aws)
# The plugin is two files in one directory: docker runs docker-currents, its small front, which execs
# currents-plugin (a name docker does not take for a plugin) from beside itself.
PLUGIN=docker-currents
PLUGIN_FULL=currents-plugin

action=${1:-}
case "$action" in
install | uninstall) ;;
*)
	echo "usage: $0 install|uninstall   (env: BIN PREFIX BINDIR PLUGINDIR DESTDIR)" >&2
	exit 2
	;;
esac

BIN=${BIN:-bin}
PREFIX=${PREFIX:-}
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}

# The plugin directories the docker CLI searches (besides the user's and cliPluginsExtraDirs).
docker_plugin_dirs=(/usr/local/lib/docker/cli-plugins /usr/local/libexec/docker/cli-plugins /usr/lib/docker/cli-plugins /usr/libexec/docker/cli-plugins)
searched_by_docker() {
	local d
	for d in "${docker_plugin_dirs[@]}" "${DOCKER_CONFIG:-${HOME:-/nonexistent}/.docker}/cli-plugins"; do
		[[ "$1" == "$d" ]] && return 0
	done
	return 1
}

if [[ -n "$PREFIX" ]]; then
	bindir=$PREFIX/bin
	plugindir=$PREFIX/lib/docker/cli-plugins
	sharedir=$PREFIX/share/currents
	# A plugin docker never finds is no install: off a package's staging root, a PREFIX docker does not
	# search (a rehearsal, /opt/...) puts it in the user plugin directory of whoever installs.
	if [[ -z "$DESTDIR" && -z "${PLUGINDIR:-}" ]] && ! searched_by_docker "$plugindir"; then
		if [[ -z "${DOCKER_CONFIG:-}" && -z "${HOME:-}" ]]; then
			echo "install.sh: HOME and DOCKER_CONFIG are not set, so there is no user plugin directory; set PLUGINDIR" >&2
			exit 2
		fi
		plugindir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
	fi
elif [[ $EUID -eq 0 ]]; then
	bindir=/usr/local/bin
	plugindir=/usr/local/lib/docker/cli-plugins
	sharedir=/usr/local/share/currents
else
	if [[ -z "${HOME:-}" ]]; then
		echo "install.sh: HOME is not set; set PREFIX (and DESTDIR if staging)" >&2
		exit 2
	fi
	bindir=$HOME/.local/bin
	plugindir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
	sharedir=${XDG_DATA_HOME:-$HOME/.local/share}/currents
fi
bindir=${BINDIR:-$bindir}
plugindir=${PLUGINDIR:-$plugindir}
manifest=$sharedir/install.manifest

# mkdirs DIR: create DIR and its missing parents under DESTDIR, recording each one created (parents first).
created_dirs=()
mkdirs() {
	local d=$1 missing=()
	while [[ -n "$d" && "$d" != / && ! -d "$DESTDIR$d" ]]; do
		missing=("$d" "${missing[@]}")
		d=$(dirname "$d")
	done
	for d in "${missing[@]}"; do
		install -d -m 0755 "$DESTDIR$d"
		created_dirs+=("$d")
	done
}

do_install() {
	local f
	for f in "${HELPERS[@]}" "$PLUGIN" "$PLUGIN_FULL"; do
		if [[ ! -x "$BIN/$f" ]]; then
			echo "install.sh: $BIN/$f is missing; run 'make build' first, as yourself (make install builds nothing, so 'sudo make install' needs no Go and leaves no root-owned files in $BIN)" >&2
			exit 1
		fi
	done
	# A previous install's directories stay recorded, so uninstall still removes them.
	if [[ -f "$DESTDIR$manifest" ]]; then
		while IFS=$'\t' read -r kind path; do
			[[ "$kind" == dir ]] && created_dirs+=("$path")
		done <"$DESTDIR$manifest"
	fi
	mkdirs "$bindir"
	mkdirs "$plugindir"
	mkdirs "$sharedir"
	files=()
	for f in "${HELPERS[@]}"; do
		install -m 0755 "$BIN/$f" "$DESTDIR$bindir/$f"
		files+=("$bindir/$f")
		echo "installed $DESTDIR$bindir/$f"
	done
	# The full plugin first: a front never runs without it.
	for f in "$PLUGIN_FULL" "$PLUGIN"; do
		install -m 0755 "$BIN/$f" "$DESTDIR$plugindir/$f"
		files+=("$plugindir/$f")
		echo "installed $DESTDIR$plugindir/$f"
	done
	{
		local d
		for d in "${created_dirs[@]}"; do printf 'dir\t%s\n' "$d"; done | sort -u
		for f in "${files[@]}"; do printf 'file\t%s\n' "$f"; done
	} >"$DESTDIR$manifest.tmp"
	mv -f "$DESTDIR$manifest.tmp" "$DESTDIR$manifest"

	[[ -n "$DESTDIR" ]] && return 0 # staging for a package: the PATH of this machine is irrelevant
	case ":$PATH:" in
	*":$bindir:"*) ;;
	*)
		echo
		echo "NOTE: $bindir is not on your PATH, so docker cannot run docker-credential-currents."
		echo "      Add it, e.g.: echo 'export PATH=\"$bindir:\$PATH\"' >> ~/.profile"
		;;
	esac
	# docker looks the helper up on the PATH of whatever runs it: systemd gives services
	# /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, cron gives user crontabs /usr/bin:/bin.
	case "$bindir" in
	/usr/bin | /bin) ;;
	/usr/local/bin | /usr/local/sbin | /usr/sbin | /sbin)
		echo "NOTE: systemd services find the helper in $bindir, but cron jobs run with PATH=/usr/bin:/bin:"
		echo "      put PATH=$bindir:/usr/bin:/bin at the top of a crontab that runs docker (or install with PREFIX=/usr)."
		;;
	*)
		if [[ $EUID -ne 0 && -z "$PREFIX" && -z "${BINDIR:-}" ]]; then
			echo "NOTE: installed for $(id -un) only. docker run by systemd services or cron does not search"
			echo "      $bindir; run 'sudo make install' to put the helper in /usr/local/bin for them."
		else
			echo "NOTE: docker run by systemd services or cron does not search $bindir: set PATH in the unit"
			echo "      (Environment=PATH=$bindir:/usr/local/bin:/usr/bin:/bin) or the crontab, or install with PREFIX=/usr/local."
		fi
		;;
	esac
	if ! searched_by_docker "$plugindir"; then
		echo "NOTE: docker does not search $plugindir for plugins: add it to \"cliPluginsExtraDirs\" in"
		echo "      config.json, or install with PLUGINDIR=/usr/local/lib/docker/cli-plugins."
	fi
	local found
	found=$(command -v docker-credential-currents || true)
	if [[ -n "$found" && "$found" != "$bindir/docker-credential-currents" ]]; then
		echo "NOTE: $found comes first on PATH and shadows the copy just installed; remove it."
	fi
	# docker searches the user's plugin directory before the system ones.
	local userplugin=${DOCKER_CONFIG:-${HOME:-/nonexistent}/.docker}/cli-plugins/$PLUGIN
	if [[ "$userplugin" != "$plugindir/$PLUGIN" && -e "$userplugin" ]]; then
		echo "NOTE: $userplugin comes first for docker and shadows the copy just installed; remove it."
	fi
	echo
	echo "Next: docker-credential-currents configure --registry HOST --role-arn ARN [--external-id-file FILE]"
}

do_uninstall() {
	local kind path dirs=() files=()
	if [[ -f "$DESTDIR$manifest" ]]; then
		while IFS=$'\t' read -r kind path; do
			case "$kind" in
			file) files+=("$path") ;;
			dir) dirs+=("$path") ;;
			esac
		done <"$DESTDIR$manifest"
	else
		# No manifest (installed by hand or by an older version): remove our files, keep every directory.
		for f in "${HELPERS[@]}"; do files+=("$bindir/$f"); done
		files+=("$plugindir/$PLUGIN" "$plugindir/$PLUGIN_FULL")
	fi
	for path in "${files[@]}"; do
		if [[ -e "$DESTDIR$path" || -L "$DESTDIR$path" ]]; then
			rm -f "$DESTDIR$path"
			echo "removed $DESTDIR$path"
		fi
	done
	rm -f "$DESTDIR$manifest"
	if [[ -z "$DESTDIR" ]]; then
		local cfg=${DOCKER_CONFIG:-${HOME:-/nonexistent}/.docker}/config.json
		if [[ -f "$cfg" ]] && grep -q '"currents"' "$cfg"; then
			echo "NOTE: $cfg still sends registries to docker-credential-currents (\"credHelpers\"): remove"
			echo "      those entries, or docker fails to find the helper on every pull from them."
		fi
	fi
	# Deepest first; a directory that now holds someone else's files stays.
	local d
	while IFS= read -r d; do
		[[ -n "$d" ]] && rmdir "$DESTDIR$d" 2>/dev/null && echo "removed $DESTDIR$d/" || true
	done < <(printf '%s\n' "${dirs[@]}" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
}

"do_$action"
