#!/bin/sh
# tb load --to gpuN on the simulated box: the file lands in VRAM through the
# GPU's copy engine from pinned staging, verified on the way and read back
# equal; a corrupted chunk stops it; a GPU that is not there is refused.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
# O_DIRECT needs a real filesystem: the build directory, not /tmp.
dir=$(mktemp -d "$TB_BUILD/storage-gpu.XXXXXX") || exit 1
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state" "$dir"' EXIT
start_box
f="$dir/model.safetensors"
"$tb" store make-test-file "$f" --size 24M >/dev/null && "$tb" store manifest "$f" >/dev/null
out=$("$tb" sim run -- "$tb" load "$f" --to gpu3 --verify --readback 2>&1); rc=$?
[ $rc -eq 0 ] && ok "a verified load into GPU 3's VRAM" || not_ok "a verified load into GPU 3's VRAM" "$out"
contains "what landed in VRAM reads back equal to the file" "in VRAM (read back equal)" "$out"
out=$("$tb" sim run -- "$tb" load "$f" --to gpu0 --slots 2 --slot-size 1M --json 2>&1)
contains "two 1 MiB slots still deliver every byte, as JSON" "\"bytes\":$(stat -c %s "$f")," "$out"
# a flipped byte in the data: the manifest catches it before the GPU gets it
printf '\377' | dd of="$f" bs=1 seek=$((8 << 20)) conv=notrunc status=none
out=$("$tb" sim run -- "$tb" load "$f" --to gpu1 --verify 2>&1); rc=$?
[ $rc -eq 1 ] && ok "a corrupted chunk stops the load" || not_ok "a corrupted chunk stops the load" "status $rc: $out"
contains "and is named by offset" "offset" "$out"
out=$("$tb" sim run -- "$tb" load "$f" --to gpu7 2>&1); rc=$?
[ $rc -eq 1 ] && ok "a GPU that does not exist is refused" || not_ok "a GPU that does not exist is refused" "status $rc: $out"
contains "with the reason" "no GPU 7" "$out"
out=$("$tb" load "$f" --readback 2>&1); rc=$?
[ $rc -eq 2 ] && ok "--readback without a GPU is a usage error" || not_ok "--readback without a GPU" "status $rc"
