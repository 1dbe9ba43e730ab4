#!/bin/sh
# bench/run.sh - the end-to-end benchmark: pdpd over its socket against the echo baseline,
# for every scenario and a fixed load matrix (docs/performance.md explains the method).
#
#   sh bench/run.sh [--out DIR] [--duration SECONDS] [--scenarios "quickstart abac-10k batch-50"]
#
# Builds with -Doptimize=ReleaseFast into zig-out/release, generates the scenarios
# (bench/scenarios/gen.py, fixed seed), then per scenario starts its own pdpd on a temporary
# socket (--source the scenario's bundle), runs pdp-bench --compare-echo for
#   ping-pong   1 connection,  depth 1
#   pipelined   1 connection,  depth 64
#   conns2      2 connections, depth 16
# (each with --compare-echo --rounds 5: pdpd and echo alternate five times, so a change of
# machine load falls on both) and stops pdpd.  Every pdp-bench command line is printed before it runs and kept in
# OUT/commands.txt; each run writes OUT/<scenario>_<load>.json (pdp-bench --json) and
# OUT/<scenario>_<load>.md (its table).  pdpd's resident memory is read from /proc when it
# has loaded the bundle (at rest) and after the matrix (OUT/<scenario>_pdpd.json; each run's
# JSON also has pdp-bench's own at-rest / under-load readings).  OUT/summary.md is the table
# docs/performance.md quotes; OUT/machine.txt describes the machine.
# Default OUT: bench/results/<UTC date and time>/ (git-ignored).  Charts: bench/plot/plot.sh OUT.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

out="bench/results/$(date -u +%Y-%m-%dT%H%M%SZ)"
duration=10
scenarios="quickstart abac-10k batch-50"
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=$2; shift 2 ;;
  --duration) duration=$2; shift 2 ;;
  --scenarios) scenarios=$2; shift 2 ;;
  -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
  *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

echo "+ python3 -m ziglang build -Doptimize=ReleaseFast --prefix zig-out/release"
python3 -m ziglang build -Doptimize=ReleaseFast --prefix zig-out/release
bin=$root/zig-out/release/bin
gen=$root/bench/scenarios/gen
echo "+ python3 bench/scenarios/gen.py --out bench/scenarios/gen abac-10k"
python3 bench/scenarios/gen.py --out "$gen" abac-10k

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "kernel: $(uname -sr)"
  echo "nproc: $(nproc)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  lscpu 2>/dev/null | grep -E '^(Architecture|CPU\(s\)|Model name|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|Hypervisor vendor|Virtualization type|L1d|L2|L3)' || true
  grep -E '^MemTotal' /proc/meminfo || true
} >"$out/machine.txt"
: >"$out/commands.txt"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pdpd-bench.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -1; }

failed=0
for sc in $scenarios; do
  extra=
  case "$sc" in
  quickstart) bundle=$root/examples/quickstart ;;
  abac-10k) bundle=$gen/abac-10k ;;
  batch-50) bundle=$gen/abac-10k; extra="--batch 50" ;;
  *) echo "bench/run.sh: unknown scenario '$sc'" >&2; exit 2 ;;
  esac
  sock=$tmp/$sc.sock
  echo "+ $bin/pdpd --socket $sock --data-dir $tmp/$sc.data --source $bundle"
  "$bin/pdpd" --socket "$sock" --data-dir "$tmp/$sc.data" --source "$bundle" >"$out/${sc}_pdpd.log" 2>&1 &
  pid=$!
  i=0
  until "$bin/pdpctl" status --socket "$sock" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "bench/run.sh: pdpd did not start for $sc (see $out/${sc}_pdpd.log)" >&2
      exit 1
    fi
    sleep 0.1
  done
  rest=$(rss_kb "$pid")
  for load in ping-pong pipelined conns2; do
    case "$load" in
    ping-pong) c=1; d=1 ;;
    pipelined) c=1; d=64 ;;
    conns2) c=2; d=16 ;;
    esac
    cmd="$bin/pdp-bench --socket $sock --scenario $bundle $extra --connections $c --depth $d --duration $duration --warmup 1 --compare-echo --rounds 5 --json $out/${sc}_${load}.json"
    echo "+ $cmd"
    echo "$sc $load: $cmd" >>"$out/commands.txt"
    # shellcheck disable=SC2086 # $extra is empty or "--batch 50"
    if ! "$bin/pdp-bench" --socket "$sock" --scenario "$bundle" $extra --connections $c --depth $d \
      --duration "$duration" --warmup 1 --compare-echo --rounds 5 --json "$out/${sc}_${load}.json" \
      >"$out/${sc}_${load}.md" 2>&1; then
      echo "bench/run.sh: $sc $load failed:" >&2
      failed=1
    fi
    cat "$out/${sc}_${load}.md"
  done
  after=$(rss_kb "$pid")
  printf '{"scenario": "%s", "rss_rest_kb": %s, "rss_after_load_kb": %s}\n' "$sc" "$rest" "$after" \
    >"$out/${sc}_pdpd.json"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
done

# One table of every run (the one docs/performance.md quotes).
python3 - "$out" >"$out/summary.md" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
loads = ["ping-pong", "pipelined", "conns2"]
rows = []
for f in sorted(glob.glob(os.path.join(out, "*_*.json"))):
    name = os.path.basename(f)[:-5]
    if name.endswith("_pdpd"):
        continue
    sc, load = name.rsplit("_", 1)
    r = json.load(open(f))
    rows.append((sc, loads.index(load) if load in loads else 9, load, r))
rows.sort(key=lambda x: (x[0], x[1]))
print("| scenario | load | conns | depth | pdpd req/s | echo req/s | thr. ratio | pdpd checks/s "
      "| p50 us (echo) | p50 ratio | p99 us (echo) | p99 ratio | p99.9 us | verified | wrong "
      "| RSS rest / load kB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc, _, load, r in rows:
    p, e = r["pdpd"], r["echo"]
    ratio = lambda k: p[k] / e[k] if e[k] else 0
    print("| %s | %s | %d | %d | %.0f | %.0f | %.2f | %.0f | %.1f (%.1f) | %.2f | %.1f (%.1f) | %.2f "
          "| %.1f | %d | %d | %d / %d |" % (
              sc, load, r["connections"], r["depth"], p["throughput_rps"], e["throughput_rps"],
              ratio("throughput_rps"), p.get("throughput_cps", p["throughput_rps"]),
              p["p50_us"], e["p50_us"], ratio("p50_us"), p["p99_us"], e["p99_us"], ratio("p99_us"),
              p["p999_us"], r["verified"], r["wrong"], r["rss_rest_kb"], r["rss_load_kb"]))
print()
for f in sorted(glob.glob(os.path.join(out, "*_pdpd.json"))):
    m = json.load(open(f))
    print("pdpd %s: RSS %s kB after loading the bundle, %s kB after the runs" % (
        m["scenario"], m["rss_rest_kb"], m["rss_after_load_kb"]))
EOF
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
echo
cat "$out/summary.md"
echo
echo "results: $out (charts: sh bench/plot/plot.sh $out)"
exit $failed
