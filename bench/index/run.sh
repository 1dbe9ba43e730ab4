#!/bin/sh
# bench/index/run.sh - the policy-index benchmark, pdpd's engine next to the cedar-policy
# crate on the same policies, entities and requests.
#
# Builds pdpd with -Doptimize=ReleaseFast, runs pdp-bench-index (which writes the generated
# files into a temporary directory), builds bench/compare/cedar-inproc with cargo (release)
# when cargo exists, runs it on the same files, and prints one table.  Run from anywhere;
# extra arguments go to pdp-bench-index (--runs N, --iters N, --seed N).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
python3 -m ziglang build -Doptimize=ReleaseFast
dir=$(mktemp -d "${TMPDIR:-/tmp}/pdp-bench-index.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "## pdpd engine (pdp-bench-index)"
echo
./zig-out/bin/pdp-bench-index --write "$dir" "$@" | tee "$dir/c.txt"
echo
crate=bench/compare/cedar-inproc
if command -v cargo >/dev/null 2>&1; then
  if ! cargo build --release --locked --quiet --manifest-path "$crate/Cargo.toml" 2>"$dir/cargo.err"; then
    cargo build --release --locked --offline --quiet --manifest-path "$crate/Cargo.toml"
  fi
  "$crate/target/release/cedar-inproc" "$dir/n10" "$dir/n10000" | tee "$dir/rust.txt"
else
  echo "cargo not found: skipping the cedar-policy comparison" >"$dir/rust.txt"
  cat "$dir/rust.txt"
fi
echo
echo "## Summary (ns per check, median of runs)"
echo
awk '
  FNR == NR && /^\| [0-9]+ \|/ { split($0, f, "|"); gsub(/ /, "", f[2]); gsub(/ /, "", f[5]); gsub(/ /, "", f[6]);
                                 pdpd[f[2]] = f[5]; scan[f[2]] = f[6]; next }
  FNR == NR { next }
  /ns_per_check=/ { n = $2; sub(/policies=/, "", n); c = $3; sub(/ns_per_check=/, "", c); cedar[n] = c }
  END {
    print "| policies | pdpd engine (index) | pdpd engine (full scan) | cedar-policy 4.14.1 | cedar-policy / pdpd |"
    print "|---:|---:|---:|---:|---:|"
    split("10 10000", ns, " ")
    for (i = 1; i <= 2; i++) {
      n = ns[i]; c = (n in cedar) ? sprintf("%.1f", cedar[n]) : "-"
      r = (n in cedar) ? sprintf("%.1fx", cedar[n] / pdpd[n]) : "-"
      printf "| %s | %.1f | %.1f | %s | %s |\n", n, pdpd[n], scan[n], c, r
    }
    printf "\nindex ratio 10000/10: pdpd %.2f", pdpd["10000"] / pdpd["10"]
    if ("10" in cedar) printf ", cedar-policy %.2f", cedar["10000"] / cedar["10"]
    printf "\n"
  }' "$dir/c.txt" "$dir/rust.txt"
