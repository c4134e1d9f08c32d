#!/bin/sh
# tb load and tb store end to end: JSON output, verification, clear errors.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
# O_DIRECT needs a real filesystem: the build directory, not /tmp.
dir=$(mktemp -d "$TB_BUILD/storage-cmd.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
f="$dir/model.safetensors"

check "make-test-file writes a safetensors file" "$tb" store make-test-file "$f" --size 20M
out=$("$tb" load "$f" --json 2>&1)
case $out in
  '{"bytes":'*',"seconds":'*',"gb_per_s":'*',"verified":false}') ok "load --json prints the documented object" ;;
  *) not_ok "load --json prints the documented object" "$out" ;;
esac
bytes=$(stat -c %s "$f")
contains "load reads every byte of the file" "\"bytes\":$bytes," "$out"
out=$("$tb" load "$f" --verify 2>&1); rc=$?
[ $rc -eq 1 ] && ok "verify without a manifest fails" || not_ok "verify without a manifest fails" "status $rc"
contains "and says how to make one" "tb store manifest" "$out"
check "store manifest writes FILE.tbsum" "$tb" store manifest "$f"
[ -s "$f.tbsum" ] && ok "the manifest is next to the file" || not_ok "the manifest is next to the file"
out=$("$tb" load "$f" --verify --to null --json 2>&1)
contains "a verified load says so" '"verified":true}' "$out"
check "load with small slots and no registration" "$tb" load "$f" --verify --slots 2 --slot-size 1M --no-register --queue-depth 4

# flip one byte 5 MiB in: inside tensor layer.0.weight
printf '\377' | dd of="$f" bs=1 seek=$((5 * 1024 * 1024 + 7)) conv=notrunc status=none
out=$("$tb" load "$f" --verify 2>&1); rc=$?
[ $rc -eq 1 ] && ok "a corrupted chunk fails the load" || not_ok "a corrupted chunk fails the load" "status $rc: $out"
contains "the error names file, offset and tensor" "$f: checksum mismatch in the 1048576-byte chunk at offset 5242880, in tensor 'layer.0.weight'" "$out"

out=$("$tb" load "$f" --to gpu0 2>&1); rc=$?
[ $rc -eq 1 ] && ok "--to gpu0 with no GPU here is refused" || not_ok "--to gpu0 with no GPU here is refused" "status $rc"
contains "with the reason" "no KFD topology" "$out"
printf 'XXXXXXXXnot json' >"$dir/bad.safetensors"
out=$("$tb" load "$dir/bad.safetensors" 2>&1)
contains "a bad header is refused clearly" "bad.safetensors: not a safetensors file" "$out"
check_fails "a bad option value is refused" "$tb" load "$f" --slots 1
# usage_error NAME NEEDLE CMD...: exit status 2 and a message with NEEDLE,
# in the command's name as typed (not the program's path in libexec)
usage_error() {
  name=$1; needle=$2; shift 2
  out=$("$@" 2>&1); rc=$?
  case "$rc|$out" in
    *libexec*) not_ok "$name" "names an internal path: $out" ;;
    "2|"*"$needle"*) ok "$name" ;;
    *) not_ok "$name" "status $rc, expected '$needle' in: $out" ;;
  esac
}
usage_error "--slots 1e99 is not a number" "tb load: --slots takes a whole number, not '1e99'" "$tb" load "$f" --slots 1e99
usage_error "--slots 3abc is not a number" "tb load: --slots takes a whole number, not '3abc'" "$tb" load "$f" --slots 3abc
usage_error "--io-size x is not a size" "tb load: --io-size takes BYTES" "$tb" load "$f" --io-size x
usage_error "--slots 1 says the range" "tb load: --slots 1 is out of range: from 2 to 1024" "$tb" load "$f" --slots 1
usage_error "--queue-depth 0 says the range" "--queue-depth 0 is out of range: from 1" "$tb" load "$f" --queue-depth 0
usage_error "--readback needs --to gpuN" "tb load: --readback compares VRAM with the file: it needs --to gpuN" "$tb" load "$f" --readback
usage_error "an unknown option is named as tb load's" "tb load: unknown option or missing value: '--bogus'" "$tb" load "$f" --bogus
usage_error "a missing value is named as tb load's" "tb load: unknown option or missing value: '--slots'" "$tb" load "$f" --slots
usage_error "store bench --size 0 says why" "tb store bench: --size 0 is out of range: from 1M" "$tb" store bench --size 0
usage_error "store bench --rounds 0 says why" "tb store bench: --rounds 0 is out of range: from 1 to 100" "$tb" store bench --rounds 0
usage_error "store bench --size 1e99 is not a size" "tb store bench: --size takes BYTES" "$tb" store bench --size 1e99
usage_error "store bench --bogus is named as tb store bench's" "tb store bench: unknown option" "$tb" store bench --bogus
usage_error "make-test-file --size x names the option" "tb store make-test-file: --size takes BYTES" "$tb" store make-test-file "$dir/x" --size x
# A write that fails (the file size limit: EFBIG) leaves no partial file.
out=$(sh -c 'trap "" XFSZ; ulimit -f 2048; exec "$0" store make-test-file "$1" --size 8M' "$tb" "$dir/partial.safetensors" 2>&1); rc=$?
[ $rc -eq 1 ] && ok "make-test-file fails when the write does" || not_ok "make-test-file fails when the write does" "status $rc: $out"
[ -e "$dir/partial.safetensors" ] && not_ok "and removes its partial file" "$(ls -l "$dir/partial.safetensors")" || ok "and removes its partial file"
mkfifo "$dir/fifo"
check_fails "make-test-file refuses to write into a FIFO" "$tb" store make-test-file "$dir/fifo" --size 1M
[ -p "$dir/fifo" ] && ok "and leaves the FIFO alone" || not_ok "and leaves the FIFO alone"
check_fails "store bench refuses a FIFO as --file" "$tb" store bench --file "$dir/fifo"
# fio's exit code, not a wait status (127 = 32512 / 256: not found)
out=$(PATH=/nonexistent "$tb" store bench --file "$f" --rounds 1 2>&1)
contains "store bench reports fio's exit code" "fio could not be run (exit code 127" "$out"
check "load --help" "$tb" load --help
check "store --help" "$tb" store --help
# tb raid status: this test machine has no NVMe drives (skip the check where it has)
if [ -z "$(ls /sys/class/nvme 2>/dev/null)" ]; then
  out=$("$tb" raid status 2>&1); rc=$?
  contains "raid status says clearly that no drives were found" "no NVMe drives found" "$out"
  [ $rc -eq 1 ] && ok "no drives is not healthy (status 1)" || not_ok "no drives is not healthy (status 1)" "status $rc"
  out=$("$tb" raid status --json 2>&1)
  contains "raid status --json has an empty drive list" '"healthy":false,"drives":[]' "$out"
fi
check_fails "raid without status is bad usage" "$tb" raid
out=$("$tb" store bench --json --size 4M --rounds 1 --dir "$dir" --ram-dir "$dir" 2>&1)
contains "store bench --json reports tb against fio" '"tb_over_fio":' "$out"
contains "and xxh3's rate on one core" '"xxh3_gb_per_s_per_core":' "$out"
contains "and the verified pipeline from a file with 1 and 2 hashing threads" '"ram_verify_gb_per_s":{"1":' "$out"
echo "# $out"
