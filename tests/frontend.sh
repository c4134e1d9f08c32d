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
