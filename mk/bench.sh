#!/bin/sh
# Run every benchmark given on the command line, one after the other (they
# measure time, so never in parallel).  Benchmarks print their own tables;
# they never fail on timing, only on errors.
set -u
status=0
for b in "$@"; do
  echo "== $b"
  "$b" || { echo "benchmark $b failed (status $?)"; status=1; }
  echo
done
exit $status
