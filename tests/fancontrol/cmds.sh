#!/bin/sh
# The fan commands' arguments: numbers are parsed strictly and a bad one is
# an error naming its option; an extra argument is an error; messages name
# the command as typed (tb fan ...), never a path under libexec.  Every
# case here is refused before the command touches a sensor or a fan.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"

# refused NAME WANT CMD...: CMD exits 2, its stderr starts with WANT and names
# nothing under libexec
refused() {
  name=$1 want=$2; shift 2
  err=$("$@" 2>&1 >/dev/null); rc=$?
  first=$(printf '%s\n' "$err" | head -n 1)
  case $err in
    *libexec*) not_ok "$name" "names an internal path: $first" ;;
    *) case $first in
         "$want"*) [ $rc = 2 ] && ok "$name" || not_ok "$name" "status $rc: $first" ;;
         *) not_ok "$name" "status $rc, expected '$want' first in: $first" ;;
       esac ;;
  esac
}
for v in 3abc 1e99 x "" " 3" 4294967297 2.5 0 129; do
  refused "--step '$v' is refused" "tb fan calibrate: --step: '$v' is not a whole number from 1 to 128" \
    "$tb" fan calibrate --step "$v"
done
for v in 3abc 1e99 x "" nan inf 0.001; do
  refused "--settle '$v' is refused" "tb fan calibrate: --settle: '$v' is not a number from 0.01 to 60" \
    "$tb" fan calibrate --settle "$v"
done
refused "tb fan status: an extra argument" "tb fan status: unexpected argument 'extra'" "$tb" fan status extra
refused "tb fan calibrate: an extra argument" "tb fan calibrate: unexpected argument 'extra'" "$tb" fan calibrate extra
refused "tb fanbench: an extra argument" "tb fanbench: unexpected argument 'extra'" "$tb" fanbench extra
refused "tb fan status: an unknown option" "tb fan status: unrecognized option '--bogus'" "$tb" fan status --bogus
refused "tb fan calibrate: a missing value" "tb fan calibrate: option '--step' requires an argument" "$tb" fan calibrate --step
refused "tb fanbench: an unknown option" "tb fanbench: unrecognized option '--bogus'" "$tb" fanbench --bogus
refused "tb fan: an unknown subcommand" "tb fan: unknown subcommand 'bogus'" "$tb" fan bogus
refused "tb-fand: an unknown option" "tb-fand: unrecognized option '--bogus'" "$TB_BUILD/bin/tb-fand" --bogus
refused "tb-fand: an extra argument" "tb-fand: unexpected argument 'extra'" "$TB_BUILD/bin/tb-fand" --check extra
out=$("$tb" fan calibrate --help)
contains "tb fan calibrate's help says where its config comes from" "default /etc/tb-fand.conf, what tb-fand reads" "$out"
