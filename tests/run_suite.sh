#!/bin/sh
# Run one Criterion suite and fail when it failed or ran no test: a green suite that
# tested nothing is a defect, not a pass.
# Usage: run_suite.sh SUITE PDPD PDPCTL SOURCE_ROOT [PDP_BENCH PDP_ECHO]
# The suite finds the daemon, the CLI, the source tree and the bench tools through
# PDPD_BIN, PDPCTL_BIN, PDP_SOURCE_ROOT, PDP_BENCH_BIN and PDP_ECHO_BIN.
bin=$1
export PDPD_BIN="$2" PDPCTL_BIN="$3" PDP_SOURCE_ROOT="$4" PDP_BENCH_BIN="${5:-}" PDP_ECHO_BIN="${6:-}"
name=$(basename "$bin")
out=$(mktemp)
"$bin" >"$out" 2>&1
rc=$?
cat "$out"
tested=$(sed -n 's/.*Tested: \([0-9][0-9]*\).*/\1/p' "$out" | tail -n 1)
rm -f "$out"
if [ -z "$tested" ] || [ "$tested" -eq 0 ]; then
  echo "run_suite: $name ran no test" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  echo "run_suite: $name failed (exit $rc)" >&2
  exit 1
fi
echo "run_suite: $name: $tested tests passed"
