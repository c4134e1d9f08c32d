#!/bin/sh
# libtbhal on the simulated box (test_hal), and the Python binding's
# example, which runs a kernel on every GPU and checks the results.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
start_box
co="$TB_BUILD/gpu/tests/sim/box_kernels.co"
tap_run "" "$tb" sim run -- "$TB_BUILD/tests/test_hal" "$co" "$tb" "$TB_BUILD/gpu/tests/hal/hal_kernels.co"
tap_run "" "$tb" sim run -- "$TB_BUILD/tests/test_drv" "$co" "$TB_BUILD/gpu/tests/hal/huge_scratch.co"
# the driver's failure state under ThreadSanitizer (threads racing to see a
# hang), blind to the preload's own synchronization (see tsan.supp)
tap_run "threads: " env TSAN_OPTIONS="suppressions=$TB_SRC/tests/hal/tsan.supp" \
  "$tb" sim run -- "$TB_BUILD/tests/test_drv_threads" "$co"
# the README's commands, from another directory: the example and tb bench
# find the kernels the build installs relative to the library and program
build_abs=$(cd "$TB_BUILD" && pwd)
out=$(cd / && TB_HAL_LIB="$build_abs/lib/libtbhal.so" "$build_abs/bin/tb" sim run -- python3 "$TB_SRC/hal/python/example.py" 2>&1); rc=$?
[ $rc -eq 0 ] && ok "the Python example runs a kernel on every GPU" || not_ok "the Python example" "$out"
n=$(printf '%s\n' "$out" | grep -c ' OK$')
[ "$n" = 6 ] && ok "the Python example checks six GPUs' results" || not_ok "six GPUs checked from Python" "$out"
out=$(TB_HAL_LIB="$TB_BUILD/lib/libtbhal.so" "$tb" sim run -- python3 -c '
import sys; sys.path.insert(0, sys.argv[1])
import tbhal
try:
    tbhal.Device.open_pci("77:00.0")
except tbhal.Error as e:
    print("refused:", e)
' "$TB_SRC/hal/python" 2>&1)
contains "Python gets the HAL's errors as exceptions with the message" "refused: no GPU at PCI address 77:00.0" "$out"
# the binding's checks, against the plain library and against a sanitizer
# build of it (python3 itself is not instrumented: the runtimes are preloaded,
# and Python's own allocations are not ours to leak-check)
tap_run "" env TB_HAL_LIB="$TB_BUILD/lib/libtbhal.so" "$tb" sim run -- python3 "$TB_SRC/tests/hal/test_binding.py" \
  "$TB_SRC/hal/python" "$co"
san_rt="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
out=$(TB_HAL_LIB="$TB_BUILD/lib/asan/libtbhal.so" LD_PRELOAD="$san_rt" \
      ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0:halt_on_error=1" \
      "$tb" sim run -- python3 "$TB_SRC/tests/hal/test_binding.py" "$TB_SRC/hal/python" "$co" 2>&1); rc=$?
bad=$(printf '%s\n' "$out" | grep -c '^not ok')
[ $rc -eq 0 ] && [ "$bad" = 0 ] && printf '%s\n' "$out" | grep -q '^ok 1 ' &&
  ok "the binding's checks pass against the ASan/UBSan build of libtbhal" ||
  not_ok "the binding under ASan/UBSan" "status $rc: $(printf '%s\n' "$out" | grep -E 'not ok|ERROR|SUMMARY|runtime error' | head -n 8)"
out=$(cd / && "$build_abs/bin/tb" sim run -- "$build_abs/bin/tb" bench dispatch --json 2>&1)
contains "tb bench dispatch runs from any directory with the installed kernels" '"submit_ns"' "$out"
out=$("$tb" sim run -- "$tb" bench launch --json --rounds 2 2>&1)
contains "tb bench launch measures a first launch on a new queue" '"first_launch_us"' "$out"
# its numbers are parsed strictly: no 1 MiB for 1e99, no GPU 0 for x
for bad in "copy --mib 1e99:--mib takes a whole number from 1 to 16384, not '1e99'" \
           "copy --mib 0:--mib takes a whole number from 1 to 16384, not '0'" \
           "dispatch --gpu x:--gpu takes a whole number from 0 to 63, not 'x'" \
           "launch --rounds 3abc:--rounds takes a whole number from 1 to 1000, not '3abc'" \
           "dispatch extra:unexpected argument 'extra'"; do
  args=${bad%%:*}
  out=$("$tb" bench $args 2>&1); rc=$?
  [ $rc -eq 2 ] && contains "tb bench $args is refused with the reason" "tb bench: ${bad#*:}" "$out" ||
    not_ok "tb bench $args is refused (status 2)" "status $rc: $out"
done
# a program built with the README's pkg-config line runs without LD_LIBRARY_PATH
app=$(mktemp -d /tmp/tb-hal-app.XXXXXX)
cat >"$app/app.c" <<'EOF'
#include <stdio.h>
#include <tbhal.h>
int main(void)
{
	int n = tbh_device_count();
	printf("%d devices\n", n);
	return n == 6 ? 0 : 1;
}
EOF
out=$(cd "$app" && cc app.c $(PKG_CONFIG_PATH="$build_abs/lib/pkgconfig" pkg-config --cflags --libs tbhal) 2>&1 &&
      env -u LD_LIBRARY_PATH "$build_abs/bin/tb" sim run -- ./a.out 2>&1); rc=$?
rm -rf "$app"
[ $rc -eq 0 ] && ok "a program built with tbhal.pc's flags finds libtbhal.so at run time (rpath)" ||
  not_ok "the README's pkg-config line" "status $rc: $out"
