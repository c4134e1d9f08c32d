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
# the box rewrites the link files within a second; on a loaded host, give it ten
for _ in $(seq 100); do
  out=$("$tb" sim run -- "$tb" info)
  printf '%s\n' "$out" | grep -q "x4 8.0 (x16 16.0)" && break
  sleep 0.1
done
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

# With ROCm's documented override for GPUs a release does not know, ROCr
# takes the six GPUs as gfx1030 and lists them.  It needs each GPU node's
# caches (KFD publishes them; ROCr asserts "GPU cache info missing" without
# them) and reads the CPUs' caches from sysfs.  It runs with the host's CPU
# cache directories hidden, as on a machine (most VMs) that publishes none:
# the box must not depend on them.
ri=$(unshare -m sh -c 'for d in /sys/devices/system/cpu/cpu[0-9]*/cache; do
       [ -d "$d" ] && { mount -t tmpfs -o ro none "$d" || exit 99; }; done
     exec "$1" sim run -- env HSA_OVERRIDE_GFX_VERSION=10.3.0 rocminfo' sh "$tb" 2>&1); rc=$?
gpus=$(printf '%s\n' "$ri" | grep -cE '^ *Device Type: +GPU')
[ $rc -eq 0 ] && [ "$gpus" = 6 ] && ok "rocminfo with HSA_OVERRIDE_GFX_VERSION=10.3.0 lists six GPU agents" ||
  not_ok "rocminfo with HSA_OVERRIDE_GFX_VERSION=10.3.0 lists six GPU agents" "rc $rc, $gpus GPUs: $(printf '%s' "$ri" | tail -n 5)"
caches=$(printf '%s\n' "$ri" | grep -A3 'Cache Info:' | grep -E '^ +L[123]:' | sed -E 's/^ +//; s/ +/ /g; s/ $//' | LC_ALL=C sort | uniq -c | sed -E 's/^ +//')
want="6 L1: 32(0x20) KB
1 L1: 32768(0x8000) KB
6 L2: 6144(0x1800) KB
6 L3: 98304(0x18000) KB"
[ "$caches" = "$want" ] && ok "rocminfo shows Navi 31's L1, L2 and L3 on every GPU and the EPYC's L1" ||
  not_ok "rocminfo shows Navi 31's L1, L2 and L3 on every GPU and the EPYC's L1" "got: $caches"

# the KFD topology's GPU caches, as kfd_topology.c publishes them
topo=$("$tb" sim run -- sh -c 'cd /sys/devices/virtual/kfd/kfd/topology/nodes && for n in 1 2 3 4 5 6; do
  echo "$(sed -n "s/^caches_count //p" $n/properties) $(ls $n/caches | wc -l)"; done | sort | uniq -c
  cat 1/caches/0/properties 1/caches/204/properties | grep -v sibling_map
  sed -n "s/^sibling_map //p" 1/caches/96/properties' 2>&1)
want="      6 206 206
processor_id_low 2147483648
level 1
size 32
cache_line_size 128
cache_lines_per_tag 0
association 0
latency 0
type 9
processor_id_low 2147483648
level 2
size 6144
cache_line_size 128
cache_lines_per_tag 0
association 0
latency 0
type 9
1,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
[ "$topo" = "$want" ] && ok "each GPU node publishes its 206 caches (96 TCP, 48+48 SQC, 12 GL1, L2, MALL)" ||
  not_ok "each GPU node publishes its 206 caches (96 TCP, 48+48 SQC, 12 GL1, L2, MALL)" "got: $topo"

# The CPUs' caches are the appliance's whatever the host publishes (a VM
# often publishes none): every attribute drivers/base/cacheinfo.c shows, and
# no host file showing through
cpu=$("$tb" sim run -- sh -c 'for c in /sys/devices/system/cpu/cpu[0-9]*; do
  for i in 0 1 2 3; do echo "$(ls $c/cache/index$i | tr "\n" " ")"; done; ls $c/cache | tr "\n" " "; echo; done | sort | uniq -c | sed -E "s/^ +[0-9]+ //"
  cd /sys/devices/system/cpu/cpu0/cache && cat index0/type index0/size index0/shared_cpu_list \
    index3/level index3/size index3/ways_of_associativity index3/number_of_sets' 2>&1)
# the mask is as wide as the kernel's possible CPUs: one hex digit per four
# of them in the first 32-bit group, CPU 0 alone in its L1d
nr=$("$tb" sim run -- sed -E 's/.*[-,]//' /sys/devices/system/cpu/possible); nr=$((nr + 1))
width=$(( nr % 32 == 0 ? 8 : (nr % 32 + 3) / 4 ))
groups=$(( (nr + 31) / 32 ))
if [ "$groups" -gt 1 ]; then
  want_map=$(printf "%0${width}x" 0); i=2
  while [ $i -lt "$groups" ]; do want_map="$want_map,00000000"; i=$((i + 1)); done
  want_map="$want_map,00000001"
else
  want_map=$(printf "%0${width}x" 1)
fi
map=$("$tb" sim run -- cat /sys/devices/system/cpu/cpu0/cache/index0/shared_cpu_map)
want="coherency_line_size id level number_of_sets physical_line_partition shared_cpu_list shared_cpu_map size type ways_of_associativity 
index0 index1 index2 index3 
Data
32K
0
3
32768K
16
32768"
[ "$map" = "$want_map" ] && ok "shared_cpu_map is the kernel's cpumask format ($nr possible CPUs: $map)" ||
  not_ok "shared_cpu_map is the kernel's cpumask format" "got '$map', want '$want_map'"
[ "$cpu" = "$want" ] && ok "every CPU publishes the EPYC's four caches, complete as cacheinfo.c publishes them" ||
  not_ok "every CPU publishes the EPYC's four caches, complete as cacheinfo.c publishes them" "got: $cpu"

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
