#!/bin/sh
# Install the appliance stack from a built tree into DESTDIR under PREFIX,
# laid out as the build is, since the programs look for their parts from
# readlink /proc/self/exe, never from the current directory:
#   PREFIX/bin/tb               runs PREFIX/libexec/tb/tb-NAME  (bin/../libexec/tb)
#   PREFIX/libexec/tb/tb-*      load PREFIX/share/tb/*.co       (libexec/tb/../../share/tb)
#   PREFIX/bin/tb-{fand,stored,inferd}, the daemons, load PREFIX/share/tb too
#                               (bin/../share/tb); tb setup runs tb-fand from
#                               beside tb and copies PREFIX/share/tb/tb-fand.conf
# with the libraries' headers, static archives and pkg-config files, the
# daemons' (and the installer's) systemd units and udev rules with their
# /usr/local paths turned into the installed ones, man pages made from each
# program's --help by help2man, and the bash completion of tb.
#
# The simulated box (tb sim, tb emu, tb fanbench, tb-simd and the library
# tb-simd preloads) is a development stand-in for the kernel and the
# hardware: it is not installed.
#
# usage: install.sh --build DIR --destdir DIR [--prefix DIR] [--libdir DIR]
#                   [--version VERSION] [--src DIR]
set -eu

die() { echo "install.sh: $*" >&2; exit 1; }

src=$(cd "$(dirname "$0")/.." && pwd)
build='' destdir='' prefix=/usr/local libdir='' version=''
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "$1 needs a value"
	case $1 in
	--build) build=$2 ;;
	--destdir) destdir=$2 ;;
	--prefix) prefix=$2 ;;
	--libdir) libdir=$2 ;;
	--version) version=$2 ;;
	--src) src=$2 ;;
	*) die "unknown option '$1'" ;;
	esac
	shift 2
done
[ -n "$build" ] && [ -d "$build/bin" ] || die "--build DIR: a built tree (DIR/bin, DIR/libexec/tb) is needed"
[ -n "$destdir" ] || die "--destdir DIR is needed (an empty one for a package, / for this machine)"
case $prefix in /*) ;; *) die "--prefix must be absolute: '$prefix'" ;; esac
build=$(cd "$build" && pwd)
destdir=$(mkdir -p "$destdir" && cd "$destdir" && pwd)
[ "$destdir" = / ] && destdir=
: "${libdir:=$prefix/lib}"
[ -n "$version" ] || version=$("$build/bin/tb" --version | sed 's/^tb //')

bindir=$prefix/bin
libexecdir=$prefix/libexec/tb
datadir=$prefix/share/tb
includedir=$prefix/include
mandir=$prefix/share/man
completiondir=$prefix/share/bash-completion/completions
# systemd and udev read /lib (Debian 12) or /usr/lib for PREFIX=/usr, and
# systemd reads /usr/local/lib/systemd/system too; udev reads only /etc
# besides its own directory.
if [ "$prefix" = /usr ]; then
	unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
	udevdir=$(pkg-config --variable=udevdir udev 2>/dev/null || true)
	: "${unitdir:=/lib/systemd/system}" "${udevdir:=/lib/udev}"
	rulesdir=$udevdir/rules.d
else
	unitdir=$prefix/lib/systemd/system
	rulesdir=/etc/udev/rules.d
fi

SIM_COMMANDS="tb-sim tb-emu tb-fanbench"
SIM_DAEMONS="tb-simd"
LIBRARIES="tbdrv:driver tbhal:hal tbstore:storage tbinfer:infer"

is_in() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

put() { # MODE FILE DIR: install FILE into DESTDIR/DIR
	install -d "$destdir$3"
	install -m "$1" "$2" "$destdir$3/"
}

# ---- programs and GPU code objects ----
put 0755 "$build/bin/tb" "$bindir"
commands='' daemons=''
for p in "$build"/libexec/tb/tb-*; do
	n=${p##*/}
	is_in "$n" "$SIM_COMMANDS" && continue
	put 0755 "$p" "$libexecdir"
	commands="$commands ${n#tb-}"
done
for p in "$build"/bin/tb-*; do
	n=${p##*/}
	is_in "$n" "$SIM_DAEMONS" && continue
	put 0755 "$p" "$bindir"
	daemons="$daemons $n"
done
[ -n "$commands" ] || die "no tb commands in $build/libexec/tb"
# the GPU code objects (data for the GPUs, not programs of this machine)
# and the shipped tb-fand.conf, which tb setup copies to /etc/tb-fand.conf
# when there is none (tb setup owns that file, so it is no conffile)
for f in "$build"/share/tb/*; do
	put 0644 "$f" "$datadir"
done

# ---- libraries: headers, static archives, pkg-config files ----
# the .pc files name their directories from ${prefix}, as pkg-config
# files do (a prefix redefined moves them all)
relative_to_prefix() { case $1 in "$prefix"/*) echo "\${prefix}/${1#"$prefix"/}" ;; *) echo "$1" ;; esac; }
pc_libdir=$(relative_to_prefix "$libdir")
pc_includedir=$(relative_to_prefix "$includedir")
for l in $LIBRARIES; do
	name=${l%%:*} dir=${l#*:}
	put 0644 "$src/$dir/$name.h" "$includedir/tb"
	put 0644 "$build/lib/lib$name.a" "$libdir"
	install -d "$destdir$libdir/pkgconfig"
	sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$pc_libdir|g" -e "s|@INCLUDEDIR@|$pc_includedir|g" \
	    -e "s|@VERSION@|$version|g" "$src/packaging/pc/$name.pc.in" >"$destdir$libdir/pkgconfig/$name.pc"
	chmod 0644 "$destdir$libdir/pkgconfig/$name.pc"
done

# ---- systemd units and udev rules ----
# The sources name /usr/local (as `make` users install by hand); the
# installed files name where this install put the programs.
rewrite() { # FILE DIR
	install -d "$destdir$2"
	out=$destdir$2/${1##*/}
	expr=
	# a unit of a program with a man page points at it
	unit=${1##*/} doc=
	unit=${unit%.*}
	if is_in "$unit" "$daemons"; then doc="man:$unit(8)"
	elif is_in "${unit#tb-}" "$commands"; then doc="man:$unit(1)"
	fi
	if [ -n "$doc" ] && ! grep -q '^Documentation=' "$1"; then
		expr="$expr -e /^Description=/a\\Documentation=$doc"
	fi
	# shellcheck disable=SC2086 # expr is a list of sed arguments
	sed $expr -e "s|/usr/local/|$prefix/|g" "$1" >"$out"
	chmod 0644 "$out"
	if [ "$prefix" != /usr/local ] && grep -n /usr/local/ "$out" >&2; then
		die "${1#"$src"/}: a /usr/local path is left in the installed file"
	fi
}
for u in "$src"/*/*.service "$src"/*/*/*.service "$src"/*/*.timer "$src"/*/*.path; do
	[ -f "$u" ] || continue
	case ${u#"$src"/} in sim/* | tests/* | build/*) continue ;; esac
	rewrite "$u" "$unitdir"
done
for r in "$src"/installer/*.rules; do
	[ -f "$r" ] && rewrite "$r" "$rulesdir"
done

# ---- man pages (from --help) and the bash completion ----
sh "$src/packaging/manpages.sh" "$destdir" "$bindir" "$mandir" "$version" $daemons
install -d "$destdir$completiondir"
sh "$src/packaging/completion.sh" "$destdir$bindir/tb" >"$destdir$completiondir/tb"
chmod 0644 "$destdir$completiondir/tb"
