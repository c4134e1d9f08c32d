#!/bin/sh
# make bench: tb load --to host against fio on the same 256 MiB file, alternating.
# The file goes to /var/tmp (O_DIRECT needs a real filesystem, not tmpfs).
exec "${TB_BUILD:-build}/bin/tb" store bench --size 256M --rounds 5 --dir "${TB_BENCH_DIR:-/var/tmp}"
