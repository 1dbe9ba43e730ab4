#!/bin/sh
# Run Cedar's conformance cases through pdp-conformance: the hand-written cases in
# tests/conformance/cedar/tests and the generated corpus, unpacked into a temp folder (never
# the source tree).  Fails unless every request passes and some ran.
# Usage: run.sh PDP_CONFORMANCE SOURCE_ROOT
set -u
bin=$1
root=$2
cedar="$root/tests/conformance/cedar"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$cedar/corpus-tests.tar.gz" -C "$tmp" || exit 1
# The corpus cases name their files relative to the folder holding corpus-tests/.
"$bin" "$cedar/tests" "$tmp" >"$tmp/out.txt" 2>&1
rc=$?
grep -v '^FAIL' "$tmp/out.txt" | tail -n 5
grep '^FAIL' "$tmp/out.txt" | head -n 50
summary=$(tail -n 1 "$tmp/out.txt")
passed=$(echo "$summary" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1/p')
failed=$(echo "$summary" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\2/p')
if [ "$rc" -ne 0 ] || [ -z "$passed" ] || [ "$passed" -eq 0 ] || [ "$failed" -ne 0 ]; then
  echo "run_suite: conformance failed: $summary" >&2
  exit 1
fi
echo "run_suite: conformance: $passed tests passed"
