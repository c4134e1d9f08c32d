#!/bin/sh
# The box from other clients' side: tests/sim/clients.py drives KFD the way
# tinygrad's KFD interface does (ctypes lookups in libc's handle, spawned
# workers, host buffers freed and mapped again, odd sizes), and the IP
# discovery table userspace drivers choose their layouts from.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
start_box
ip=/sys/class/drm/renderD128/device/ip_discovery/die/0
out=$("$tb" sim run -- sh -c "cat $ip/GC/0/major $ip/GC/0/minor $ip/GC/0/revision $ip/SDMA0/0/major $ip/NBIF/0/major $ip/NBIF/0/minor" 2>&1 | tr '\n' ' ')
[ "$out" = "11 0 0 6 4 3 " ] && ok "ip_discovery: GC 11.0.0, SDMA0 6.x, NBIF 4.3" || not_ok "ip_discovery versions" "$out"
out=$("$tb" sim run -- sh -c "readlink $ip/GC; cat $ip/11/0/hw_id $ip/11/0/harvest $ip/11/0/num_base_addresses; head -n 1 $ip/11/0/base_addr; ls $ip/42" 2>&1 | tr '\n' ' ')
[ "$out" = "11 11 0x0 4 0x00001260 0 " ] && ok "ip_discovery: named links and the kernel's file formats" || not_ok "ip_discovery formats" "$out"
n=$("$tb" sim run -- sh -c "cat $ip/num_ips; ls -d $ip/[0-9]*/[0-9]* | wc -l" 2>&1 | tr '\n' ' ')
set -- $n
[ "$1" = "$2" ] && ok "ip_discovery: num_ips counts every instance ($1)" || not_ok "ip_discovery num_ips" "$n"
"$tb" sim run -- env TAP_OFFSET=$tap_n python3 "$TB_SRC/tests/sim/clients.py"
