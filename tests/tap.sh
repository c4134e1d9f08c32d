# TAP helpers for shell tests: source this file, then call check/ok/not_ok.
#   check "name" CMD...     ok when CMD succeeds
#   check_fails "name" CMD... ok when CMD fails (non-zero status)
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
# contains "name" "needle" "haystack"
contains() {
  case $3 in *"$2"*) ok "$1" ;; *) not_ok "$1" "expected '$2' in: $(printf '%s' "$3" | tail -n 5)" ;; esac
}
