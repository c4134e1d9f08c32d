# vram_flip_during STEP NAME: tb diag's vram test on GPU 1, and bit 0 of one
# byte in every MiB from 1 MiB to 1 GiB flipped (wherever the test's buffers
# lie, some flips land in them) once the test announces STEP; the report in
# $diag_state/NAME.json, the run's exit status in $rc.
vram_flip_during() {
  "$tb" sim run -- "$tb" diag --state "$diag_state" -g 1 -t vram --json-stream --json "$diag_state/$2.json" \
    >"$diag_state/$2.stream" 2>&1 &
  local pid=$!
  for _ in $(seq 900); do grep -q "\"step\":\"$1\"" "$diag_state/$2.stream" && break; sleep 0.1; done
  "$tb" sim fault 1 vram-bitflip 0x100000 1023 0x100004 >/dev/null
  wait "$pid"; rc=$?
}
