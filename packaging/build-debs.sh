#!/bin/sh
# Make the Debian packages of the stack from a built tree: packaging/debian
# is copied into a fresh staging directory OUT/src (so nothing debhelper
# writes lands in the source), given a changelog for VERSION, and
# dpkg-buildpackage -b runs there; the packages, .buildinfo and .changes
# land in OUT.  The tb-setup package is left out (build profile
# pkg.tb.nosetup) while installer/ builds no tb-setup.
#
# usage: build-debs.sh --tree DIR --out DIR [--version VERSION] [--src DIR]
#   VERSION: default 0.1~gitN.HASH from the source's git history
set -eu

die() { echo "build-debs.sh: $*" >&2; exit 1; }

# The stack's version until it has releases of its own (tbhal.pc's).
UPSTREAM=0.1
MAINTAINER="tb maintainers <maintainers@users.noreply.h-seed-60b00c43.example>"

src=$(cd "$(dirname "$0")/.." && pwd)
tree='' out='' version=''
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "$1 needs a value"
	case $1 in
	--tree) tree=$2 ;;
	--out) out=$2 ;;
	--version) version=$2 ;;
	--src) src=$2 ;;
	*) die "unknown option '$1'" ;;
	esac
	shift 2
done
[ -n "$tree" ] && [ -x "$tree/bin/tb" ] || die "--tree DIR: a built tree (DIR/bin/tb) is needed"
[ -n "$out" ] || die "--out DIR is needed"
for tool in dpkg-buildpackage dh help2man; do
	command -v $tool >/dev/null || die "$tool is needed (apt-get install dpkg-dev debhelper help2man)"
done
tree=$(cd "$tree" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# the version and the date of the source's last commit (the build is
# reproducible: SOURCE_DATE_EPOCH comes from the changelog's date)
if epoch=$(git -C "$src" log -1 --format=%ct 2>/dev/null); then
	if [ -z "$version" ]; then
		count=$(git -C "$src" rev-list --count HEAD)
		hash=$(git -C "$src" rev-parse --short HEAD)
		version=$UPSTREAM~git$count.$hash
		git -C "$src" diff --quiet HEAD 2>/dev/null || version=$version.dirty
	fi
else
	epoch=$(date +%s)
fi
[ -n "$version" ] || die "--version is needed outside a git checkout"
case $version in
[0-9]*) ;;
*) die "version '$version' must start with a digit" ;;
esac

stage=$out/src
rm -rf "$stage"
mkdir -p "$stage"
cp -R "$src/packaging/debian" "$stage/debian"
cat >"$stage/debian/changelog" <<EOF
tb ($version) unstable; urgency=medium

  * Built from the tb source at $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "an unversioned tree").

 -- $MAINTAINER  $(date -R -u -d "@$epoch")
EOF
rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo

profiles=
[ -x "$tree/libexec/tb/tb-setup" ] || profiles=pkg.tb.nosetup

cd "$stage"
TB_SRC=$src TB_TREE=$tree dpkg-buildpackage -b --no-sign --no-pre-clean ${profiles:+--build-profiles=$profiles} \
	>"$out/build.log" 2>&1 || { tail -40 "$out/build.log" >&2; die "dpkg-buildpackage failed (log: $out/build.log)"; }
ls "$out"/*.deb
