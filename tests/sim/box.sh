#!/bin/sh
# The simulated box: it starts, unmodified lspci sees its GPUs, the driver
# runs real kernels and copies on it (box_test), and it stops cleanly.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
state="$box_state"

out=$("$tb" sim start 2>&1); rc=$?
if [ $rc -ne 0 ]; then not_ok "the box starts" "$out"; exit 1; fi
ok "the box starts"
out=$("$tb" sim start 2>&1); rc=$?
case "$rc:$out" in 0:*) not_ok "starting twice is refused" "$out" ;; *already*) ok "starting twice is refused" ;; *) not_ok "starting twice is refused" "$out" ;; esac

gpus=$("$tb" sim run -- lspci -n -d 1002:744c 2>&1 | grep -c "0300: 1002:744c")
[ "$gpus" = 6 ] && ok "lspci sees six 1002:744c display controllers" || not_ok "lspci sees six GPUs" "$gpus"

# tb info: the driver's discovery (libpci, KFD topology, render nodes)
out=$("$tb" sim run -- "$tb" info --json 2>&1)
n=$(printf '%s' "$out" | python3 -c 'import json,sys
g = json.load(sys.stdin)["gpus"]
print(sum(1 for x in g if x["target"] == "gfx1100" and x["large_bar"] and x["link"]["width"] == 16 and x["vram_bytes"] == 24 << 30))' 2>&1)
[ "$n" = 6 ] && ok "tb info --json: six gfx1100 with large BAR, x16 links, 24 GiB" || not_ok "tb info --json" "$n: $out"
contains "tb info: six GPUs and no warnings" "6 GPUs, no warnings" "$("$tb" sim run -- "$tb" info)"
check "GPU 4's link trains at x4 8 GT/s" "$tb" sim fault 4 link 4 8
sleep 1
out=$("$tb" sim run -- "$tb" info)
contains "tb info shows a degraded link" "x4 8.0 (x16 16.0)" "$(printf '%s\n' "$out" | grep 0000:83:00.0)"
contains "tb info warns of it" "warning: GPU 4 (0000:83:00.0): PCIe link at x4 8.0 GT/s" "$out"
check "the faults clear" "$tb" sim fault clear
check_fails "tb info outside a box with no GPUs is an error" env -u TB_SIM_STATE "$tb" info

# ROCm's own tools, unmodified: Debian 12's ROCr (5.2.3) predates gfx1100,
# so it finds the six GPU nodes in the KFD topology and declines each as an
# unknown ISA -- exactly what it prints on the real box
ri=$("$tb" sim run -- rocminfo 2>&1); rc=$?
n=$(printf '%s\n' "$ri" | grep -c "The GPU node has an unrecognized id")
[ $rc -eq 0 ] && [ "$n" = 6 ] && ok "rocminfo walks the KFD topology and finds six GPU nodes" || not_ok "rocminfo finds six GPU nodes" "rc $rc, $n: $(printf '%s' "$ri" | head -n 5)"
contains "rocminfo sees the amdgpu kernel module" "ROCk module is loaded" "$ri"

# the driver on the box: box_test's own checks
tap_run "" "$tb" sim run -- "$TB_BUILD/tests/box_test" "$TB_BUILD/gpu/tests/sim/box_kernels.co" "$tb"

resets=$("$tb" sim status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["box"]["gpus"][3]["resets"])')
[ "$resets" = 1 ] && ok "the hang's GPU reset is counted in tb sim status" || not_ok "the GPU reset is counted" "resets=$resets"
contains "the kernel log shows the reset" "GPU reset(1) succeeded" "$("$tb" sim status)"

# two processes on different GPUs at once
co="$TB_BUILD/gpu/tests/sim/box_kernels.co"
"$tb" sim run -- "$TB_BUILD/tests/box_test" "$co" work 1 20 >"$state.w1" 2>&1 &
w1=$!
"$tb" sim run -- "$TB_BUILD/tests/box_test" "$co" work 2 20 >"$state.w2" 2>&1
r2=$?
wait $w1; r1=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && ok "two processes run work on GPUs 1 and 2 at once" || \
  not_ok "two processes at once" "$(cat "$state.w1" "$state.w2" | tail -n 10)"
rm -f "$state.w1" "$state.w2"

out=$("$tb" sim stop 2>&1); rc=$?
[ $rc -eq 0 ] && ok "the box stops" || not_ok "the box stops" "$out"
out=$("$tb" sim run -- true 2>&1); rc=$?
case "$rc:$out" in 0:*) not_ok "running with no box is a clear error" "$out" ;; *"no simulated box"*) ok "running with no box is a clear error" ;; *) not_ok "running with no box is a clear error" "$out" ;; esac
