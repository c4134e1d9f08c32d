#!/bin/sh
# The tb front end: dispatch, help and clear errors.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
out=$("$tb" --help 2>&1); contains "help lists commands" "commands:" "$out"
check_fails "no command is an error" "$tb"
out=$("$tb" no-such-command 2>&1); rc=$?
[ $rc -eq 2 ] && ok "unknown command exits 2" || not_ok "unknown command exits 2" "status $rc"
contains "unknown command is named" "'no-such-command' is not a tb command" "$out"
check_fails "path-like command names are refused" "$tb" ../bin/tb
out=$("$tb" --version 2>&1); rc=$?
case "$rc:$out" in "0:tb "?*) ok "--version prints the version ($out)" ;; *) not_ok "--version prints the version" "status $rc: $out" ;; esac
equals "tb help NAME is tb NAME --help" "$("$tb" info --help 2>&1)" "$("$tb" help info 2>&1)"
check_fails "tb help of no command is an error" "$tb" help no-such-command
equals "tb help alone is tb --help" "$("$tb" --help 2>&1)" "$("$tb" help 2>&1)"
# every installed command is listed with its one line
help=$("$tb" --help)
for p in "$TB_BUILD"/libexec/tb/tb-*; do
  name=${p##*/tb-}
  line=$(printf '%s\n' "$help" | grep -E "^  $name +[^ ]")
  [ -n "$line" ] && ok "--help describes $name" || not_ok "--help describes $name" "$help"
done
out=$("$tb" -x 2>&1); rc=$?
[ $rc -eq 2 ] && ok "an unknown option exits 2" || not_ok "an unknown option exits 2" "status $rc"
contains "an unknown option is named" "tb: unknown option '-x'" "$out"
# a command's errors name it as the user typed it, not its path in libexec
out=$("$tb" info --no-such-option 2>&1)
contains "getopt's errors name 'tb info'" "tb info: unrecognized option '--no-such-option'" "$out"
case $out in *libexec*) not_ok "errors name no internal path" "$out" ;; *) ok "errors name no internal path" ;; esac
