#!/usr/bin/env bash
# The Debian packages, made from the tree the tests run (packaging/
# build-debs.sh, as make deb does from its own hardened tree): the packages
# there are, what each holds (no part of the simulated box), their control
# fields, the daemons' units naming the installed programs and left
# disabled, the man pages, a program linked with pkg-config alone against
# the -dev packages, and lintian with no error or warning.  A package
# broken on purpose (its unit back at /usr/local, its man page gone) is
# caught by the unit check and by lintian.
. "$TB_SRC/tests/tap.sh"
tree=$TB_BUILD
w=$(mktemp -d "${TMPDIR:-/tmp}/tb-debs.XXXXXX")
trap 'rm -rf "$w"' EXIT
version=0.1~test
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

missing=
for tool in dpkg-buildpackage dh help2man; do
  command -v $tool >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  not_ok "the tools that make the packages are installed" "missing:$missing (make deps)"
  exit 0
fi

# ---- the packages ---------------------------------------------------------------------
# no debug symbol packages and a fast compressor: neither is checked here,
# and the sanitizer build's programs are large
if out=$(DEB_BUILD_OPTIONS=noautodbgsym DPKG_DEB_COMPRESSOR_TYPE=gzip DPKG_DEB_COMPRESSOR_LEVEL=1 sh "$TB_SRC/packaging/build-debs.sh" --tree "$tree" --out "$w/debs" \
           --version "$version" 2>&1); then
  ok "build-debs.sh makes the packages from $tree"
else
  not_ok "build-debs.sh" "$out"
  exit 0
fi
deb() { echo "$w/debs/$1_${version}_$arch.deb"; }
want="libtbdrv-dev libtbhal-dev libtbinfer-dev libtbstore-dev tb tb-fand tb-inferd tb-stored"
[ -x "$tree/libexec/tb/tb-setup" ] && want="$want tb-setup"
equals "the packages: the tools, each daemon, the -dev packages (tb-setup once installer/ builds it)" \
  "$(echo $want | tr ' ' '\n' | sort | xargs)" "$(cd "$w/debs" && ls *.deb | sed 's/_.*//' | sort | xargs)"
for p in $want; do
  mkdir -p "$w/root/$p"
  dpkg-deb -x "$(deb $p)" "$w/root/$p"
done
files() { (cd "$w/root/$1" && find . -type f -o -type l | sed 's|^\.||' | sort); }
# unit_paths_in ROOT FILE: the unit's Exec lines whose program is not in ROOT
# (nor, for the system's own tools such as /bin/kill, on this machine) or is
# under /usr/local
unit_paths_in() {
  grep -E '^Exec[A-Za-z]*=' "$2" | while IFS= read -r line; do
    prog=${line#*=}; prog=${prog%% *}; prog=${prog#[-@:+!]}
    { [ -x "$1$prog" ] || [ -x "$prog" ]; } && [ "${prog#/usr/local/}" = "$prog" ] || echo "$line"
  done
}
unit_paths() { unit_paths_in "$1" "$1$2"; }

# ---- what each holds --------------------------------------------------------------
tb_files=$(files tb)
commands=
for p in "$tree"/libexec/tb/tb-*; do
  n=${p##*/}
  case $n in tb-sim | tb-emu | tb-fanbench | tb-setup | tb-power) continue ;; esac
  commands="$commands ${n#tb-}"
done
bad=
for c in $commands; do
  for f in /usr/libexec/tb/tb-$c /usr/share/man/man1/tb-$c.1.gz; do
    grep -qx "$f" <<<"$tb_files" || bad="$bad $f"
  done
done
for f in /usr/bin/tb /usr/share/man/man1/tb.1.gz /usr/share/bash-completion/completions/tb \
         /usr/share/tb/diag.co /usr/share/tb/infer.co /usr/share/tb/tbhal_kernels.co; do
  grep -qx "$f" <<<"$tb_files" || bad="$bad $f"
done
equals "tb: tb, each command of the tree ($(echo $commands)) with its man page, the GPU code objects, the completion" \
  "" "$bad"
sim=$(for p in $want; do files $p; done | grep -E 'tb-sim|tb-emu|tb-fanbench|libtbsim|/usr/local' || true)
equals "no package holds the simulated box or a /usr/local path" "" "$sim"
for d in tb-fand tb-stored tb-inferd; do
  extra=
  [ $d = tb-fand ] && extra=/usr/share/tb/tb-fand.conf
  equals "$d: the daemon in /usr/bin (beside tb, where tb setup runs it), its unit, its man page $extra" \
    "$(printf '%s\n' /lib/systemd/system/$d.service /usr/bin/$d /usr/share/man/man8/$d.8.gz $extra)" \
    "$(files $d | grep -v '^/usr/share/doc/')"
done
if [ -x "$tree/libexec/tb/tb-setup" ]; then
  setup_files=$(files tb-setup | grep -v '^/usr/share/doc/') bad=
  for f in /usr/libexec/tb/tb-setup /usr/libexec/tb/tb-power /usr/share/man/man1/tb-setup.1.gz \
           /usr/share/man/man1/tb-power.1.gz /lib/systemd/system/tb-setup.service; do
    grep -qx "$f" <<<"$setup_files" || bad="$bad $f"
  done
  for f in "$TB_SRC"/installer/*.service; do
    grep -qx "/lib/systemd/system/${f##*/}" <<<"$setup_files" || bad="$bad /lib/systemd/system/${f##*/}"
  done
  for f in "$TB_SRC"/installer/*.rules; do
    grep -qx "/lib/udev/rules.d/${f##*/}" <<<"$setup_files" || bad="$bad /lib/udev/rules.d/${f##*/}"
  done
  equals "tb-setup: tb setup, tb power, their man pages, installer/'s units and udev rules" "" "$bad"
  u=$w/root/tb-setup/lib/systemd/system/tb-setup.service
  contains "tb-setup.service runs the installed tb" "ExecStart=/usr/bin/tb setup apply" "$(cat "$u")"
  equals "tb-setup.service: its ExecStart lines run installed programs" "" "$(unit_paths_in "$w/root/tb" "$u")"
  dpkg-deb -e "$(deb tb-setup)" "$w/ctl-setup"
  post=$(cat "$w/ctl-setup/postinst")
  contains "tb-setup's postinst enables tb-setup.service (it runs at the next boot)" \
    "deb-systemd-helper enable 'tb-setup.service'" "$post"
  case $post in
    *"debian-installed 'tb-setup.service'"* | *"deb-systemd-invoke"*"tb-setup.service"*)
      not_ok "tb-setup's postinst neither waits for an earlier enable nor starts tb setup" "$post" ;;
    *) ok "tb-setup's postinst neither waits for an earlier enable nor starts tb setup" ;;
  esac
fi
for l in tbdrv tbhal tbstore tbinfer; do
  equals "lib$l-dev: its header, static library and pkg-config file" \
    "$(printf '%s\n' /usr/include/tb/$l.h /usr/lib/$multiarch/lib$l.a /usr/lib/$multiarch/pkgconfig/$l.pc)" \
    "$(files lib$l-dev | grep -v '^/usr/share/doc/')"
done

# ---- control fields ---------------------------------------------------------------
field() { dpkg-deb -f "$(deb $1)" "$2"; }
contains "tb-inferd depends on tb of its version (the kernels it loads)" "tb (= $version)" "$(field tb-inferd Depends)"
contains "tb-fand depends on procps (its unit's /bin/kill)" "procps" "$(field tb-fand Depends)"
contains "tb depends on the shared libraries it links (dpkg-shlibdeps)" "libdrm-amdgpu1" "$(field tb Depends)"
contains "libtbinfer-dev depends on the -dev packages its .pc requires" \
  "libtbhal-dev (= $version), libtbstore-dev (= $version)" "$(field libtbinfer-dev Depends)"
equals "the -dev packages: Section libdevel, Multi-Arch same" "libdevel same libdevel same libdevel same libdevel same" \
  "$(for l in tbdrv tbhal tbstore tbinfer; do echo $(field lib$l-dev Section) $(field lib$l-dev Multi-Arch); done | xargs)"
dpkg-deb -e "$(deb tb-fand)" "$w/ctl-fand"
[ ! -e "$w/ctl-fand/conffiles" ] && ok "tb-fand has no conffile (tb setup writes /etc/tb-fand.conf)" ||
  not_ok "tb-fand has no conffile" "$(cat "$w/ctl-fand/conffiles")"
# dh_installsystemd --no-enable: the unit's links are made only if it was
# enabled before (by tb setup), never on a first install
contains "tb-fand's postinst does not enable the unit on install" "if deb-systemd-helper debian-installed 'tb-fand.service'" \
  "$(cat "$w/ctl-fand/postinst")"

# ---- the units: each command they run is the installed program --------------------
for d in tb-fand tb-stored tb-inferd; do
  u=/lib/systemd/system/$d.service
  equals "$d.service: its ExecStart lines run /usr/bin/$d" "" "$(unit_paths "$w/root/$d" $u)"
  contains "$d.service: ExecStart=/usr/bin/$d" "ExecStart=/usr/bin/$d" "$(cat "$w/root/$d$u")"
  contains "$d.service: Documentation=man:$d(8)" "Documentation=man:$d(8)" "$(cat "$w/root/$d$u")"
done

# ---- man pages --------------------------------------------------------------------
man1=$w/root/tb/usr/share/man/man1
out=$(MANWIDTH=100 man -l "$man1/tb-diag.1.gz" 2>&1)
contains "tb-diag(1): its NAME from tb's list of commands" "tb-diag - stress-test every GPU" "$out"
contains "tb-diag(1): its SYNOPSIS from its usage lines" "tb diag report [RUN]" "$out"
contains "tb(1): SEE ALSO names the daemons' pages" "tb-fand(8)" "$(MANWIDTH=100 man -l "$man1/tb.1.gz" 2>&1)"

# ---- the -dev packages: a program built with pkg-config alone ----------------------
sys=$w/sys
for l in tbdrv tbhal tbstore tbinfer; do dpkg-deb -x "$(deb lib$l-dev)" "$sys"; done
pcdir=$sys/usr/lib/$multiarch/pkgconfig
sed -i "s|^prefix=/usr\$|prefix=$sys/usr|" "$pcdir"/*.pc
# the tree's libraries are built with the sanitizers
san="-fsanitize=address,undefined"
if out=$(flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs tbinfer) &&
         gcc -std=gnu17 -Wall -Wextra -Werror $san -o "$w/link" "$TB_SRC/packaging/check/link.c" $flags 2>&1 &&
         "$w/link" 2>&1); then
  equals "a program links with pkg-config tbinfer alone (libtbinfer, libtbstore, libtbhal, libtbdrv)" "linked" "$out"
else
  not_ok "a program links with pkg-config tbinfer alone" "$out"
fi
rm "$pcdir/tbdrv.pc"
out=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs tbinfer 2>&1)
contains "without libtbdrv-dev's tbdrv.pc, pkg-config tbinfer fails (the check can fail)" "tbdrv" "$out"

# ---- a package broken on purpose ---------------------------------------------------
b=$w/broken
dpkg-deb -R "$(deb tb-fand)" "$b"
sed -i 's/^Package: tb-fand$/Package: tb-fand-broken/' "$b/DEBIAN/control"
sed -i 's|/usr/bin/tb-fand|/usr/local/bin/tb-fand|' "$b/lib/systemd/system/tb-fand.service"
rm "$b/usr/share/man/man8/tb-fand.8.gz"
sed -i '/tb-fand\.8\.gz/d' "$b/DEBIAN/md5sums"
dpkg-deb -b "$b" "$w/tb-fand-broken.deb" >/dev/null
contains "the unit check catches a unit left at /usr/local (the check can fail)" "ExecStart=/usr/local/bin/tb-fand" \
  "$(unit_paths "$b" /lib/systemd/system/tb-fand.service)"

# ---- lintian ----------------------------------------------------------------------
if command -v lintian >/dev/null; then
  out=$(lintian --no-tag-display-limit "$w/debs"/*.changes "$w/tb-fand-broken.deb" 2>&1)
  equals "lintian: no error and no warning on the packages" "" "$(grep -E '^[EW]: ' <<<"$out" | grep -v ': tb-fand-broken: ')"
  contains "lintian catches the broken package's missing man page (the check can fail)" \
    "W: tb-fand-broken: no-manual-page [usr/bin/tb-fand]" "$out"
else
  ok "lintian # SKIP lintian is not installed (make deps installs it)"
fi
