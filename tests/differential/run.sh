#!/bin/sh
# Differential test of pdpd's engine against the reference Cedar implementation: gen.py makes
# random policy sets, entities and requests from a seed, oracle.py records the Cedar CLI's
# answers (decision, determining policies, erroring policies) in the layout pdp-conformance
# reads, and pdp-conformance runs them through pdpd's engine.  Every FAIL line is a
# disagreement.  Cases live in a temp folder, never the source tree.
# Usage: run.sh PDP_CONFORMANCE SOURCE_ROOT [REQUESTS] [SEED]
# Env: PDPD_DIFF_KEEP=DIR keeps the generated cases in DIR; PDPD_DIFF_JOBS (default 2).
set -u
bin=$1
root=$2
requests=${3:-2000}
seed=${4:-20250101}
jobs=${PDPD_DIFF_JOBS:-2}
here="$root/tests/differential"
version=4.14.1
prefix="${HOME:-/tmp}/.cache/pdpd/cedar-cli-$version"
cedar="$prefix/bin/cedar"

if ! command -v python3 >/dev/null 2>&1; then
  echo "differential: python3 not found; skipping the differential run against Cedar"
  exit 0
fi
if [ ! -x "$cedar" ] || ! "$cedar" --version 2>/dev/null | grep -q " $version\$"; then
  if ! command -v cargo >/dev/null 2>&1; then
    echo "differential: cargo not found; skipping the differential run against Cedar"
    exit 0
  fi
  echo "differential: installing cedar-policy-cli $version into $prefix (first time only, a few minutes)"
  if ! cargo install --quiet --locked cedar-policy-cli --version "$version" --root "$prefix"; then
    echo "differential: cargo install cedar-policy-cli $version failed" >&2
    exit 1
  fi
fi

if [ -n "${PDPD_DIFF_KEEP:-}" ]; then
  tmp=$PDPD_DIFF_KEEP
  mkdir -p "$tmp"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
fi
cases="$tmp/cases"
rm -rf "$cases"
python3 "$here/gen.py" --out "$cases" --seed "$seed" --requests "$requests" || exit 1
python3 "$here/oracle.py" --cedar "$cedar" --dir "$cases" --jobs "$jobs" --check 1 || exit 1

# Requests Cedar answers: every FAIL line is a disagreement.
"$bin" "$cases/gen" >"$tmp/out.txt" 2>&1
summary=$(tail -n 1 "$tmp/out.txt")
passed=$(echo "$summary" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1/p')
failed=$(echo "$summary" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\2/p')
if [ -z "$passed" ]; then
  cat "$tmp/out.txt" | tail -n 20
  echo "differential: pdp-conformance did not finish: $summary" >&2
  exit 1
fi
grep '^FAIL' "$tmp/out.txt" >"$tmp/disagree.txt"
total=$((passed + failed))

# Requests (or whole cases) Cedar rejects (bad context, entities or policies): pdpd must
# reject them too.  A line "expected reject ..., got allow|deny" means pdpd answered instead.
if [ -d "$cases/rejected" ]; then
  "$bin" "$cases/rejected" >"$tmp/rej.txt" 2>&1
  grep '^FAIL.*: expected reject ' "$tmp/rej.txt" >>"$tmp/disagree.txt"
  rsum=$(tail -n 1 "$tmp/rej.txt")
  rn=$(echo "$rsum" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\2/p')
  total=$((total + ${rn:-0}))
fi

n=$(wc -l <"$tmp/disagree.txt" | tr -d ' ')
echo "differential: $total requests, $n disagreements (seed $seed)"
if [ "$n" -ne 0 ]; then
  head -n 50 "$tmp/disagree.txt"
  echo "differential: reproduce one case K with:" >&2
  echo "  python3 $here/gen.py --out DIR --seed $seed --case K && python3 $here/oracle.py --cedar $cedar --dir DIR && $bin -v DIR/gen" >&2
  echo "run_suite: differential failed: $n disagreements" >&2
  exit 1
fi
if [ "$total" -eq 0 ]; then
  echo "run_suite: differential failed: no requests ran" >&2
  exit 1
fi
echo "run_suite: differential: $total tests passed"
