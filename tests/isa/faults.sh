#!/bin/sh
# tb emu: kernels that fault stop with the hardware's error and the address
# and PC; bad command lines and wrong code objects give a clear error and
# exit status 2.  Never a crash or a hang.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
co="$TB_BUILD/gpu/tests/isa/faults.co"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect STATUS "name" "needle" CMD...: exit status and a message on stderr
expect() {
  want=$1 name=$2 needle=$3; shift 3
  out=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" -ne "$want" ]; then not_ok "$name" "exit status $rc, want $want: $out"; return; fi
  contains "$name" "$needle" "$out"
}

expect 1 "out-of-bounds read is a memory fault" "memory fault: read of 4 bytes at 0x" \
  "$tb" emu "$co" oob_read --grid 64 --block 64 --arg buf:256 --arg u32:1000
out=$("$tb" emu "$co" oob_read --grid 64 --block 64 --arg buf:256 --arg u32:1000 2>&1)
case $out in *"(pc 0x"*) ok "memory fault names the PC" ;; *) not_ok "memory fault names the PC" "$out" ;; esac
expect 1 "out-of-bounds write is a memory fault" "memory fault: write of 4 bytes at 0x" \
  "$tb" emu "$co" oob_write --grid 64 --block 64 --arg buf:256 --arg u32:1000
expect 1 "an invalid word is an illegal instruction" "illegal instruction: 0xffffffff" \
  "$tb" emu "$co" illegal --grid 1 --block 1 --arg buf:4
expect 1 "an unemulated instruction is named" "illegal instruction: buffer_load_b32" \
  "$tb" emu "$co" unsupported --grid 1 --block 1 --arg buf:4
expect 1 "a wave that never ends is a hang" "hang: a wave ran" \
  "$tb" emu "$co" spin --grid 1 --block 1 --arg buf:4 --max-instructions 100000
expect 1 "__builtin_trap stops the kernel" "s_trap 2" \
  "$tb" emu "$co" trap --grid 1 --block 1 --arg buf:4

# the output file of a faulting run is not written
rm -f "$tmp/out.bin"
"$tb" emu "$co" oob_write --grid 64 --block 64 --arg "buf:256:>$tmp/out.bin" --arg u32:1000 >/dev/null 2>&1
[ ! -e "$tmp/out.bin" ] && ok "a faulting run writes no output" || not_ok "a faulting run writes no output"
# a run that ends well writes it, with the kernel's result
printf '\001\000\000\000' >"$tmp/one.bin"
"$tb" emu "$co" trap --grid 1 --block 1 --arg "buf:@$tmp/one.bin:>$tmp/out.bin" >/dev/null 2>&1
[ "$(od -An -tu4 "$tmp/out.bin" 2>/dev/null | tr -d ' ')" = 2 ] && ok "output file holds the result" \
  || not_ok "output file holds the result" "$(od -An -tx1 "$tmp/out.bin" 2>&1)"

# arguments checked against the kernel's metadata
expect 2 "too few arguments" "takes 2 arguments, 1 given" "$tb" emu "$co" oob_read --grid 1 --block 1 --arg buf:4
expect 2 "a scalar where a buffer is expected" "is a buffer, given a u32" \
  "$tb" emu "$co" oob_read --grid 1 --block 1 --arg u32:1 --arg u32:1
expect 2 "a buffer where a scalar is expected" "is a 4-byte value, given a buffer" \
  "$tb" emu "$co" oob_read --grid 1 --block 1 --arg buf:4 --arg buf:4
expect 2 "a scalar of the wrong size" "is 4 bytes, given a 8-byte u64" \
  "$tb" emu "$co" oob_read --grid 1 --block 1 --arg buf:4 --arg u64:1
expect 2 "a missing kernel is named, with the ones there are" "has no kernel 'nope'; it has: oob_read" \
  "$tb" emu "$co" nope --grid 1 --block 1
expect 2 "a file that is not a code object" "not an ELF file" "$tb" emu "$tmp/one.bin" k --grid 1 --block 1
printf '\177ELF\002\001\001\000' >"$tmp/short.elf"; head -c 200 /dev/zero >>"$tmp/short.elf"
expect 2 "a truncated ELF file" "tb emu:" "$tb" emu "$tmp/short.elf" k --grid 1 --block 1
echo '__kernel void trap(__global uint *o) { o[0] = 1; }' >"$tmp/g.cl"
if clang-19 -x cl -cl-std=CL2.0 -target amdgcn-amd-amdhsa -mcpu=gfx1030 -nogpulib -O2 -c \
     "$tmp/g.cl" -o "$tmp/g.o" 2>/dev/null && ld.lld-19 -shared "$tmp/g.o" -o "$tmp/g.co"; then
  expect 2 "a code object for another GPU" "another GPU" "$tb" emu "$tmp/g.co" trap --grid 1 --block 1 --arg buf:4
else
  not_ok "a code object for another GPU" "could not build the gfx1030 code object"
fi
expect 2 "no such code object file" "cannot open" "$tb" emu "$tmp/missing.co" k --grid 1 --block 1
expect 2 "a zero grid" "--grid '0'" "$tb" emu "$co" trap --grid 0 --block 1 --arg buf:4
expect 2 "four grid dimensions" "--grid '1,1,1,1'" "$tb" emu "$co" trap --grid 1,1,1,1 --block 1 --arg buf:4
expect 2 "a block larger than the kernel allows" "exceeds the kernel's maximum" \
  "$tb" emu "$co" trap --grid 2048 --block 2048 --arg buf:4
expect 2 "an unknown argument type" "unknown type 'u128'" "$tb" emu "$co" trap --grid 1 --block 1 --arg u128:1
expect 2 "a malformed number" "'12x' is not a valid u32" "$tb" emu "$co" trap --grid 1 --block 1 --arg u32:12x
expect 2 "a u32 out of range" "is not a valid u32" "$tb" emu "$co" trap --grid 1 --block 1 --arg u32:4294967296
expect 2 "a missing input file" "cannot read" "$tb" emu "$co" trap --grid 1 --block 1 --arg "buf:@$tmp/none"
expect 2 "an empty output name" "optionally :>OUTFILE" "$tb" emu "$co" trap --grid 1 --block 1 --arg "buf:4:>"
expect 2 "a missing --grid" "need CODE_OBJECT, KERNEL, --grid and --block" "$tb" emu "$co" trap --block 1
out=$("$tb" emu --help); contains "--help shows usage" "usage: tb emu CODE_OBJECT KERNEL" "$out"
out=$("$tb" emu "$co" trap --grid 1 --block 1 --arg "buf:@$tmp/one.bin" --stats)
case $out in *"stats: wave_instructions="*" seconds="*" rate="*) ok "--stats prints the stats line" ;;
  *) not_ok "--stats prints the stats line" "$out" ;; esac
# numbers are parsed strictly, and the error names the option
expect 2 "--threads 3abc is refused" "--threads '3abc'" "$tb" emu "$co" trap --grid 1 --block 1 --arg buf:4 --threads 3abc
expect 2 "--threads 1e99 is refused" "--threads '1e99'" "$tb" emu "$co" trap --grid 1 --block 1 --arg buf:4 --threads 1e99
expect 2 "--threads x is refused" "--threads 'x'" "$tb" emu "$co" trap --grid 1 --block 1 --arg buf:4 --threads x
expect 2 "--max-instructions ' 5' is refused" "--max-instructions ' 5'" \
  "$tb" emu "$co" trap --grid 1 --block 1 --arg buf:4 --max-instructions " 5"
expect 2 "--grid 3abc is refused" "--grid '3abc'" "$tb" emu "$co" trap --grid 3abc --block 1 --arg buf:4
expect 2 "a u32 with a sign" "'+3' is not a valid u32" "$tb" emu "$co" trap --grid 1 --block 1 --arg u32:+3
expect 2 "an i32 below its range" "'-2147483649' is not a valid i32" "$tb" emu "$co" trap --grid 1 --block 1 --arg i32:-2147483649
expect 2 "a buffer size with a second 0x" "buf:0x0x10" "$tb" emu "$co" trap --grid 1 --block 1 --arg buf:0x0x10
expect 2 "an extra argument is refused" "tb emu: unexpected argument 'extra'" \
  "$tb" emu "$co" trap extra --grid 1 --block 1 --arg buf:4
# the code object's reader refuses what is no regular file, and a FIFO
# without waiting in open() for a writer that never comes
mkfifo "$tmp/fifo"
expect 2 "a FIFO as the code object is refused, not waited on" "$tmp/fifo is not a regular file" \
  timeout 20 "$tb" emu "$tmp/fifo" trap --grid 1 --block 1 --arg buf:4
expect 2 "/dev/zero as the code object is refused" "/dev/zero is not a regular file" \
  "$tb" emu /dev/zero trap --grid 1 --block 1 --arg buf:4
