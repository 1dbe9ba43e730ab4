#!/bin/sh
# bench/plot/plot.sh - charts (PNG and SVG) from a bench/run.sh result folder.
#
#   sh bench/plot/plot.sh RESULTS_DIR [COMPARE_JSON] [--out DIR]
#
# Reads RESULTS_DIR/<scenario>_<load>.json (pdp-bench --json) and writes into DIR (default
# RESULTS_DIR/charts):
#   latency_<scenario>.{png,svg}  p50/p90/p99/p99.9/max of pdpd and echo, one line per load
#   throughput.{png,svg}          checks/s of pdpd and echo per scenario and load
#   p99.{png,svg}                 p99 latency of pdpd and echo per scenario and load
#   peers.{png,svg}               pdpd, OPA and Cerbos side by side, when COMPARE_JSON (default
#                                 RESULTS_DIR/compare.json) exists: bench/compare's combined
#                                 JSON, keys "pdpd", "opa", "cerbos", each with throughput_rps
#                                 and p50_us..max_us
# Needs gnuplot: installed with apt-get (gnuplot-nox) when missing and possible; otherwise a
# notice is printed and the script exits 0 without charts.  The data tables gnuplot reads are
# made by python3 (stdlib) and kept in DIR/data/.
set -eu
res=
cmp=
out=
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=$2; shift 2 ;;
  -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
  *) if [ -z "$res" ]; then res=$1; elif [ -z "$cmp" ]; then cmp=$1; else
       echo "plot.sh: unexpected argument '$1'" >&2; exit 2; fi; shift ;;
  esac
done
if [ -z "$res" ] || [ ! -d "$res" ]; then
  echo "usage: sh bench/plot/plot.sh RESULTS_DIR [COMPARE_JSON] [--out DIR]" >&2
  exit 2
fi
[ -n "$out" ] || out=$res/charts
[ -n "$cmp" ] || cmp=$res/compare.json

if ! command -v gnuplot >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "plot.sh: gnuplot not found; installing gnuplot-nox with apt-get"
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y -q gnuplot-nox >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q gnuplot-nox >/dev/null 2>&1; } || true
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo -n apt-get install -y -q gnuplot-nox >/dev/null 2>&1 || true
    fi
  fi
  if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot.sh: gnuplot is not installed and could not be installed; no charts made (install gnuplot and run again)"
    exit 0
  fi
fi

mkdir -p "$out/data"
python3 - "$res" "$out/data" "$cmp" <<'EOF'
import glob, json, os, sys
res, data, cmp = sys.argv[1:4]
loads = ["ping-pong", "pipelined", "conns2"]
runs = {}
for f in sorted(glob.glob(os.path.join(res, "*_*.json"))):
    name = os.path.basename(f)[:-5]
    if "_" not in name or name.endswith("_pdpd"):
        continue
    sc, load = name.rsplit("_", 1)
    try:
        r = json.load(open(f))
    except ValueError:
        continue
    if "pdpd" not in r:
        continue
    runs.setdefault(sc, {})[load] = r
order = lambda sc: sorted(runs[sc], key=lambda l: loads.index(l) if l in loads else 9)
qs = [("p50", "p50_us"), ("p90", "p90_us"), ("p99", "p99_us"), ("p99.9", "p999_us"), ("max", "max_us")]
scen = []
for sc in sorted(runs):
    scen.append(sc)
    with open(os.path.join(data, "latency_%s.dat" % sc), "w") as fh:
        cols = []
        for load in order(sc):
            r = runs[sc][load]
            for side in ("pdpd", "echo"):
                if side in r:
                    cols.append(("%s %s (c%d d%d)" % (side, load, r["connections"], r["depth"]), r[side]))
        fh.write("percentile\t" + "\t".join('"%s"' % c[0] for c in cols) + "\n")
        for label, key in qs:
            fh.write(label + "\t" + "\t".join("%.3f" % c[1][key] for c in cols) + "\n")
with open(os.path.join(data, "runs.dat"), "w") as fh:
    fh.write("# run\tpdpd_cps\techo_cps\tpdpd_p99\techo_p99\n")
    for sc in sorted(runs):
        for load in order(sc):
            r = runs[sc][load]
            p, e = r["pdpd"], r.get("echo", {})
            k = r.get("checks_per_request", 1)
            fh.write('"%s\\n%s"\t%.1f\t%.1f\t%.3f\t%.3f\n' % (
                sc, load, p.get("throughput_cps", p["throughput_rps"] * k),
                e.get("throughput_cps", e.get("throughput_rps", 0) * k),
                p["p99_us"], e.get("p99_us", 0)))
with open(os.path.join(data, "scenarios.txt"), "w") as fh:
    fh.write(" ".join(scen) + "\n")
if os.path.exists(cmp):
    c = json.load(open(cmp))
    peers = [k for k in ("pdpd", "opa", "cerbos") if isinstance(c.get(k), dict)]
    with open(os.path.join(data, "peers_latency.dat"), "w") as fh:
        fh.write("percentile\t" + "\t".join(peers) + "\n")
        for label, key in qs:
            fh.write(label + "\t" + "\t".join("%.3f" % c[p].get(key, 0) for p in peers) + "\n")
    with open(os.path.join(data, "peers_throughput.dat"), "w") as fh:
        fh.write("# peer\tthroughput_rps\n")
        for p in peers:
            fh.write("%s\t%.1f\n" % (p, c[p].get("throughput_rps", 0)))
EOF

# Run one gnuplot script twice: PNG and SVG.
plot() { # name, script (terminal and output are set here)
  for fmt in png svg; do
    if [ $fmt = png ]; then term="pngcairo size 1100,650 font 'DejaVu Sans,11'"; else term="svg size 1100,650 font 'DejaVu Sans,11'"; fi
    printf 'set terminal %s\nset output "%s/%s.%s"\n%s\n' "$term" "$out" "$1" "$fmt" "$2" | gnuplot
  done
  echo "$out/$1.png $out/$1.svg"
}

common='set grid ytics lc rgb "#dddddd"
set key outside right top
set border 3
set tics nomirror'

for sc in $(cat "$out/data/scenarios.txt"); do
  f=$out/data/latency_$sc.dat
  n=$(head -1 "$f" | awk -F'\t' '{ print NF - 1 }')
  # Columns alternate pdpd, echo per load: one colour per load, echo dashed.
  colors="#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b"
  items=
  i=2
  while [ $i -le $((n + 1)) ]; do
    c=$(echo "$colors" | cut -d' ' -f$(( (i - 2) / 2 + 1 )))
    if [ $((i % 2)) = 0 ]; then dt=1; else dt=2; fi
    items="$items${items:+, }'$f' using 0:$i with linespoints lw 2 pt 7 ps 0.8 dt $dt lc rgb '$c' title columnhead($i)"
    i=$((i + 1))
  done
  plot "latency_$sc" "$common
set title \"$sc: latency percentiles, pdpd (solid) vs echo baseline (dashed)\"
set ylabel 'microseconds (log scale)'
set logscale y
set xtics ('p50' 0, 'p90' 1, 'p99' 2, 'p99.9' 3, 'max' 4)
set xrange [-0.3:4.3]
plot $items"
done

runs=$out/data/runs.dat
nruns=$(($(wc -l <"$runs") - 1))
plot throughput "$common
set title 'Throughput: checks per second (requests/s x checks per request)'
set ylabel 'checks/s (log scale)'
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics font ',9'
set xrange [-0.6:$nruns - 0.4]
set format y '%.0s%c'
set bmargin 5
plot '$runs' using 2:xtic(1) title 'pdpd' lc rgb '#1f77b4', '' using 3 title 'echo (same load)' lc rgb '#bbbbbb'"

plot p99 "$common
set title 'p99 latency per request (a batch-50 request carries 50 checks)'
set ylabel 'microseconds (log scale)'
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics font ',9'
set xrange [-0.6:$nruns - 0.4]
set format y '%.0s%c'
set bmargin 5
plot '$runs' using 4:xtic(1) title 'pdpd' lc rgb '#d62728', '' using 5 title 'echo (same load)' lc rgb '#bbbbbb'"

if [ -f "$out/data/peers_latency.dat" ]; then
  np=$(head -1 "$out/data/peers_latency.dat" | awk -F'\t' '{ print NF - 1 }')
  plot peers "$common
set multiplot layout 1,2 title 'pdpd and its peers, same checks ($cmp)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set title 'throughput'
set ylabel 'requests/s (log scale)'
unset key
plot '$out/data/peers_throughput.dat' using 2:xtic(1) lc rgb '#1f77b4'
set title 'latency percentiles'
set ylabel 'microseconds (log scale)'
set key top left
plot for [i=2:$((np + 1))] '$out/data/peers_latency.dat' using i:xtic(1) title columnhead(i)
unset multiplot"
fi
