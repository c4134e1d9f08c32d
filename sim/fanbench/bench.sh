#!/bin/sh
# make bench: tb fanbench (tb-fand against the linear and pid baselines on
# the standard heat traces, in plant time).  Never fails on timing.
build=${TB_BUILD:-build}
exec "$build/libexec/tb/tb-fanbench"
