# Shell tests that use a simulated box of their own: source after tap.sh,
# then call start_box.  The box and its state go when the script exits.
tb="$TB_BUILD/bin/tb"
box_state=$(mktemp -d "${TMPDIR:-/tmp}/tb-test-box.XXXXXX")
export TB_SIM_STATE="$box_state"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state"' EXIT
# sanitizer builds run under the box's preloaded library, which comes first
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
start_box() {
  out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
}
