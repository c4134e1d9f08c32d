# TAP helpers for shell tests: source this file, then call check/ok/not_ok.
#   check "name" CMD...     ok when CMD succeeds
#   check_fails "name" CMD... ok when CMD fails (non-zero status)
#   contains "name" "needle" TEXT / equals "name" "want" VALUE
#   tap_run "prefix" CMD... CMD's own TAP results as checks of this script
#   ok "name" / not_ok "name" "why"
# The runner (tests/run) counts the "ok" and "not ok" lines.
tap_n=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1"; }
not_ok() { tap_n=$((tap_n + 1)); echo "not ok $tap_n - $1"; [ $# -gt 1 ] && echo "# $2"; return 0; }
check() {
  name=$1; shift
  if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$(printf '%s' "$out" | tail -n 5)"; fi
}
check_fails() {
  name=$1; shift
  if out=$("$@" 2>&1); then not_ok "$name" "succeeded but should have failed: $(printf '%s' "$out" | tail -n 3)"; else ok "$name"; fi
}
# equals "name" "want" "got": the exact value, not a part of it
equals() {
  if [ "$3" = "$2" ]; then ok "$1"; else not_ok "$1" "expected '$2', got '$(printf '%s' "$3" | tail -n 5)'"; fi
}
# contains "name" "needle" "haystack"
contains() {
  case $3 in *"$2"*) ok "$1" ;; *) not_ok "$1" "expected '$2' in: $(printf '%s' "$3" | tail -n 5)" ;; esac
}
# tap_run "prefix" CMD...: the TAP results of a test program CMD, as checks of
# this script (renumbered, names prefixed).  Its exit status counts: a CMD
# that fails with no "not ok" line, prints a plan other than the checks it
# made, or makes no check at all is a failed check too.
tap_run() {
  tap_prefix=$1; shift
  tap_out=$("$@" 2>&1); tap_rc=$?
  tap_seen=0 tap_bad=0 tap_plan=
  while IFS= read -r tap_line; do
    case $tap_line in
      "ok "[0-9]*|"not ok "[0-9]*)
        tap_text=${tap_line#not }; tap_text=${tap_text#ok }
        tap_text=${tap_text#"${tap_text%%[!0-9]*}"}; tap_text=${tap_text# }; tap_text=${tap_text#- }
        tap_seen=$((tap_seen + 1))
        case $tap_line in
          not*) tap_bad=$((tap_bad + 1)); not_ok "$tap_prefix$tap_text" ;;
          *) ok "$tap_prefix$tap_text" ;;
        esac ;;
      1..*) tap_plan=${tap_line#1..} ;;
      "#"*) printf '%s\n' "$tap_line" ;;
      "") ;;
      *) printf '# %s\n' "$tap_line" ;;
    esac
  done <<EOF
$tap_out
EOF
  [ -n "$tap_plan" ] && [ "$tap_plan" != "$tap_seen" ] && \
    not_ok "${tap_prefix}planned $tap_plan checks" "it made $tap_seen: $*"
  [ "$tap_seen" -eq 0 ] && not_ok "${tap_prefix}checks made" "none: $*"
  [ "$tap_rc" -ne 0 ] && [ "$tap_bad" -eq 0 ] && not_ok "${tap_prefix}exit status" "status $tap_rc: $*"
  return 0
}
