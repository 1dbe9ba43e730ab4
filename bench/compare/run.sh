#!/bin/sh
# bench/compare/run.sh [DURATION] [CONNECTIONS] [DEPTH] - pdpd next to its peers, OPA and
# Cerbos, on the same machine, in the same run, with the same requests (the checks of
# examples/quickstart/checks.json, cycled).  See bench/compare/README.md.
#
# 1. builds pdpd (ReleaseFast, into /tmp/peers-pdpd), starts it on a temp socket, checks it
#    with `pdpctl test` and measures it with pdp-bench;
# 2. when `go` exists: builds the Go load generator (bench/compare/peers), installs the
#    pinned OPA and Cerbos into $PDPD_PEERS_CACHE (default ~/.cache/pdpd/peers), then for
#    each peer: starts it on a temp Unix socket, checks that it answers every check as
#    checks.json says (`peers verify`, must be 0 mismatches), measures it, stops it;
#    also measures pdpd through the same Go generator, as a control for the generator;
# 3. prints one table and writes the combined JSON to
#    bench/compare/peers/results/peers-cN-dD.json (PEERS_JSON overrides).
# Servers run one at a time; every server is stopped at the end, whatever happens.
set -eu
duration=${1:-5}
connections=${2:-1}
depth=${3:-1}
warmup=${PEERS_WARMUP:-1}
OPA_VERSION=v1.22.2
CERBOS_VERSION=v0.55.0

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
scenario=examples/quickstart
cache=${PDPD_PEERS_CACHE:-$HOME/.cache/pdpd/peers}
results=${PEERS_JSON:-$root/bench/compare/peers/results/peers-c$connections-d$depth.json}
tmp=$(mktemp -d /tmp/peers.XXXXXX)
pids=""

stop_all() {
  for p in $pids; do
    kill "$p" 2>/dev/null || true
  done
  for p in $pids; do
    wait "$p" 2>/dev/null || true
  done
  pids=""
}
trap 'stop_all; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# wait_socket PATH PID NAME: until PATH is a socket (10 s), or the server died.
wait_socket() {
  i=0
  while [ ! -S "$1" ]; do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "run.sh: $3 exited before serving $1; its log:" >&2
      cat "$tmp/$3.log" >&2
      return 1
    fi
    i=$((i + 1))
    if [ $i -gt 200 ]; then
      echo "run.sh: $3 did not serve $1 within 10 s" >&2
      return 1
    fi
    sleep 0.05
  done
}

stop_one() { # PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  pids=$(echo "$pids" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true)
}

echo "## machine: $(nproc) cores ($(uname -m)), shared by the load generator and the server"
echo "## load before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every column)"
echo "## run: $duration s measured (+$warmup s warm-up), $connections connection(s), depth $depth, $scenario"
echo

# --- pdpd ---
python3 -m ziglang build -Doptimize=ReleaseFast --prefix /tmp/peers-pdpd
bin=/tmp/peers-pdpd/bin
"$bin/pdpd" --socket "$tmp/pdpd.sock" --source "$scenario" --log-level warn >"$tmp/pdpd.log" 2>&1 &
pid=$!
pids="$pids $pid"
wait_socket "$tmp/pdpd.sock" $pid pdpd
"$bin/pdpctl" test "$scenario" --socket "$tmp/pdpd.sock" | tail -n 1
"$bin/pdp-bench" --socket "$tmp/pdpd.sock" --scenario "$scenario" --duration "$duration" \
  --warmup "$warmup" --connections "$connections" --depth "$depth" --json "$tmp/pdpd.json" >"$tmp/pdpd.txt"
stop_one $pid

have_go=1
if ! command -v go >/dev/null 2>&1; then
  echo "peers: go not found; skipping OPA and Cerbos"
  have_go=0
fi

if [ $have_go = 1 ]; then
  gen="$cache/bin/peers-gen"
  mkdir -p "$cache/bin"
  (cd bench/compare/peers && go build -mod=readonly -o "$gen" .)

  # OPA, pinned: go install at a release.
  opa="$cache/bin/opa-$OPA_VERSION/opa"
  if [ ! -x "$opa" ]; then
    echo "run.sh: installing OPA $OPA_VERSION into $cache (go install; a few minutes the first time)"
    GOBIN="$(dirname "$opa")" go install "github.com/open-policy-agent/opa@$OPA_VERSION" ||
      echo "peers: OPA $OPA_VERSION could not be installed with go install; skipping OPA"
  fi
  # Cerbos, pinned.  Its go.mod has a replace directive, which `go install pkg@version`
  # refuses, so the module is downloaded at the release and built in place, honouring its
  # go.mod and go.sum (GOWORK=off: the module ships a go.work for its own tools).
  cerbos="$cache/bin/cerbos-$CERBOS_VERSION/cerbos"
  if [ ! -x "$cerbos" ]; then
    echo "run.sh: building Cerbos $CERBOS_VERSION into $cache (a few minutes the first time)"
    if dir=$(go mod download -json "github.com/cerbos/cerbos@$CERBOS_VERSION" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') && [ -n "$dir" ]; then
      (cd "$dir" && GOWORK=off GOFLAGS=-mod=mod go build -trimpath -o "$cerbos" ./cmd/cerbos) ||
        echo "peers: Cerbos $CERBOS_VERSION did not build; skipping Cerbos"
    else
      echo "peers: Cerbos $CERBOS_VERSION could not be downloaded; skipping Cerbos"
    fi
  fi

  measure() { # NAME: verify then load against $tmp/NAME.sock
    "$gen" verify --target "$1" --socket "$tmp/$1.sock" --scenario "$scenario" >"$tmp/$1-verify.md" || {
      cat "$tmp/$1-verify.md"
      echo "run.sh: $1 does not give pdpd's answers; not measured" >&2
      return 1
    }
    tail -n 1 "$tmp/$1-verify.md"
    "$gen" load --target "$1" --socket "$tmp/$1.sock" --scenario "$scenario" --duration "$duration" \
      --warmup "$warmup" --connections "$connections" --depth "$depth" --json "$tmp/$1.json" >"$tmp/$1.txt"
  }

  if [ -x "$opa" ]; then
    "$gen" opa-data --scenario "$scenario" >"$tmp/data.json"
    "$opa" run --server --addr "unix://$tmp/opa.sock" --log-level error --skip-version-check \
      "$tmp/data.json" bench/compare/opa/quickstart.rego >"$tmp/opa.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    wait_socket "$tmp/opa.sock" $pid opa
    measure opa
    stop_one $pid
  fi

  if [ -x "$cerbos" ]; then
    cat >"$tmp/cerbos.yaml" <<CONF
server:
  grpcListenAddr: "unix:$tmp/cerbos.sock"
  httpListenAddr: "unix:$tmp/cerbos-http.sock"
storage:
  driver: disk
  disk:
    directory: $root/bench/compare/cerbos/policies
    watchForChanges: false
audit:
  enabled: false
telemetry:
  disabled: true
CONF
    CERBOS_NO_TELEMETRY=1 "$cerbos" server --config="$tmp/cerbos.yaml" --log-level=error >"$tmp/cerbos.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    wait_socket "$tmp/cerbos.sock" $pid cerbos
    measure cerbos
    stop_one $pid
  fi

  # Control: pdpd through the Go generator.
  "$bin/pdpd" --socket "$tmp/pdpd.sock" --source "$scenario" --log-level warn >"$tmp/pdpd.log" 2>&1 &
  pid=$!
  pids="$pids $pid"
  wait_socket "$tmp/pdpd.sock" $pid pdpd
  "$gen" load --target pdpd --socket "$tmp/pdpd.sock" --scenario "$scenario" --duration "$duration" \
    --warmup "$warmup" --connections "$connections" --depth "$depth" --json "$tmp/pdpd-go.json" >"$tmp/pdpd-go.txt"
  stop_one $pid
fi

mkdir -p "$(dirname "$results")"
python3 - "$tmp" "$results" "$OPA_VERSION" "$CERBOS_VERSION" <<'PY'
import json, os, platform, sys
tmp, out, opa_v, cerbos_v = sys.argv[1:5]
def load(name, key):
    p = os.path.join(tmp, name + ".json")
    return json.load(open(p))[key] if os.path.exists(p) else None
base = json.load(open(os.path.join(tmp, "pdpd.json")))
combined = {"scenario": base["scenario"], "connections": base["connections"], "depth": base["depth"],
            "machine": {"cores": os.cpu_count(), "arch": platform.machine(),
                        "note": "load generator and server share the cores"},
            "versions": {"opa": opa_v, "cerbos": cerbos_v},
            "pdpd": base["pdpd"], "pdpd_go": load("pdpd-go", "pdpd"),
            "opa": load("opa", "opa"), "cerbos": load("cerbos", "cerbos")}
json.dump(combined, open(out, "w"), indent=2)
cols = [("pdpd", "pdpd (pdp-bench)"), ("pdpd_go", "pdpd (Go gen)"), ("opa", "OPA " + opa_v), ("cerbos", "Cerbos " + cerbos_v)]
cols = [(k, t) for k, t in cols if combined[k]]
rows = [("throughput (checks/s)", "throughput_rps"), ("p50 (us)", "p50_us"), ("p90 (us)", "p90_us"),
        ("p99 (us)", "p99_us"), ("p99.9 (us)", "p999_us"), ("max (us)", "max_us"), ("answers", "answers")]
peers = [k for k in ("opa", "cerbos") if combined[k]]
print("\n## %s, %d connection(s), depth %d\n" % (combined["scenario"], combined["connections"], combined["depth"]))
print("| metric | " + " | ".join([t for _, t in cols] + ["pdpd / %s" % k for k in peers]) + " |")
print("|---|" + "---:|" * (len(cols) + len(peers)))
for label, key in rows:
    cells = [("%.0f" if key in ("throughput_rps", "answers") else "%.1f") % combined[k][key] for k, _ in cols]
    ratios = []
    for k in peers:
        p, q = combined["pdpd"][key], combined[k][key]
        if key == "throughput_rps":
            ratios.append("%.1fx" % (p / q))
        elif key == "answers":
            ratios.append("")
        else:  # latency: pdpd's as a fraction of the peer's
            ratios.append("1/%.1f" % (q / p) if p > 0 else "-")
    print("| " + " | ".join([label] + cells + ratios) + " |")
if peers:
    print("\ntargets: pdpd >= 20x the peer's throughput and <= 1/10 of its p99")
    for k in peers:
        t = combined["pdpd"]["throughput_rps"] / combined[k]["throughput_rps"]
        l = combined[k]["p99_us"] / combined["pdpd"]["p99_us"]
        print("  %s: throughput %.1fx (%s), p99 1/%.1f (%s)" % (k, t, "met" if t >= 20 else "MISSED",
              l, "met" if l >= 10 else "MISSED"))
print("\ncombined JSON: " + out)
PY
