# Shell tests that use a simulated box of their own: source after tap.sh,
# then call start_box.  The box and its state go when the script exits.
tb="$TB_BUILD/bin/tb"
box_state=$(mktemp -d "${TMPDIR:-/tmp}/tb-test-box.XXXXXX")
export TB_SIM_STATE="$box_state"
# the box's drives and md0 are loop devices over files the daemon serves by
# FUSE (STATE/blk, STATE/md): any loop device or mount the box left goes too
detach_drives() {
  for f in "$box_state"/blk/nvme[0-9] "$box_state"/md/md0; do
    losetup -n -O NAME -j "$f" | while read -r d; do losetup -d "$d"; done
  done 2>/dev/null
  umount -l "$box_state/blk" 2>/dev/null; umount -l "$box_state/md" 2>/dev/null
}
trap '"$tb" sim stop >/dev/null 2>&1; detach_drives; rm -rf "$box_state"' EXIT
# sanitizer builds run under the box's preloaded library, which comes first
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
start_box() {
  out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
}
