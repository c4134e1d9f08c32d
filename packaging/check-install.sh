#!/bin/sh
# make deb-check: the packages install into a fresh Debian 12 root made by
# mmdebstrap from Debian's archive (apt resolving their dependencies there)
# and run in it: packaging/check/root.sh inside the root (tb and each
# command's --help, the daemons, the man pages, the units through
# systemd-analyze verify, a program linked with pkg-config tbinfer, the
# bash completion, and tb setup plan --root / once installer/ builds it).
# It needs the network and a few minutes, so it is not part of make test.
#
# usage: check-install.sh DIR   (DIR: the packages, as make deb leaves them)
# environment: TB_MIRROR (default http://deb.debian.org/debian),
#              TB_KEEP_ROOT=1 keeps the root (its path is printed)
set -eu
[ $# -eq 1 ] || { echo "usage: check-install.sh DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
mirror=${TB_MIRROR:-http://deb.debian.org/debian}
command -v mmdebstrap >/dev/null || { echo "check-install.sh: mmdebstrap is needed (apt-get install mmdebstrap)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "check-install.sh: run as root (mmdebstrap's root mode)" >&2; exit 1; }

debs=
for d in "$1"/*.deb; do
	case $d in *-dbgsym_*) continue ;; esac
	[ -f "$d" ] && debs="$debs $(cd "$(dirname "$d")" && pwd)/${d##*/}"
done
[ -n "$debs" ] || { echo "check-install.sh: no packages in $1 (make deb)" >&2; exit 1; }

root=$(mktemp -d /var/tmp/tb-root.XXXXXX)
[ "${TB_KEEP_ROOT-}" = 1 ] || trap 'rm -rf "$root"' EXIT
log=$root.log
echo "check-install.sh: a Debian 12 root in $root from $mirror (log: $log)"
# the root has what the checks use besides the packages: systemd-analyze,
# man (the units' Documentation= pages), a compiler and pkg-config for the
# -dev packages, bash-completion
# shellcheck disable=SC2086 # debs is a list of files
if mmdebstrap --variant=apt --include=systemd,man-db,gcc,libc6-dev,pkgconf,bash-completion \
	--customize-hook='mkdir -p "$1/tmp/tb-debs"' \
	--customize-hook="copy-in $debs /tmp/tb-debs" \
	--customize-hook="copy-in $src/packaging/check/root.sh $src/packaging/check/link.c /tmp" \
	--customize-hook='chroot "$1" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/tb-debs/*.deb"' \
	--customize-hook='chroot "$1" sh /tmp/root.sh | tee "$1/tmp/root.tap"' \
	--customize-hook='! grep -q "^not ok" "$1/tmp/root.tap"' \
	bookworm "$root" "$mirror" >"$log" 2>&1; then
	sed -n '/^ok \|^not ok \|^# \|^1\.\./p' "$log"
	echo "check-install.sh: the packages install and run in a fresh Debian 12 root"
else
	sed -n '/^ok \|^not ok \|^# \|^1\.\./p' "$log"
	grep -v "^ok \\|^not ok \\|^# \\|^1\\.\\." "$log" | tail -20 >&2
	echo "check-install.sh: FAILED (log: $log)" >&2
	exit 1
fi
