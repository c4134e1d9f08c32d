# vram_flip_during STEP NAME [DIAG ARGS...]: tb diag's vram test (or what
# DIAG ARGS run) on GPU 1, and bit 0 of one byte in every MiB from 1 MiB to
# 1 GiB flipped (wherever the test's buffers lie, some flips land in them)
# once the test announces a step whose name begins with STEP; the report in
# $diag_state/NAME.json, the run's exit status in $rc.
vram_flip_during() {
  local step=$1 name=$2
  shift 2
  [ $# -gt 0 ] || set -- -t vram
  "$tb" sim run -- "$tb" diag --state "$diag_state" -g 1 "$@" --json-stream --json "$diag_state/$name.json" \
    >"$diag_state/$name.stream" 2>&1 &
  local pid=$!
  for _ in $(seq 900); do grep -q "\"step\":\"$step" "$diag_state/$name.stream" && break; sleep 0.1; done
  "$tb" sim fault 1 vram-bitflip 0x100000 1023 0x100004 >/dev/null
  wait "$pid"; rc=$?
}
