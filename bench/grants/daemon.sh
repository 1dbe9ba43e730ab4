#!/bin/sh
# bench/grants/daemon.sh - a million grants, 200 permission definitions and reloads, measured
# through a real pdpd (docs/performance.md, "Grants, definitions and reloads").
#
#   sh bench/grants/daemon.sh [--out DIR] [--duration S] [--reload-duration S] [--no-build] [--no-gen]
#
# Builds ReleaseFast into zig-out/release, generates rbac-1m (bench/scenarios/gen.py, fixed
# seed: 1,000,000 grants, 200 definitions, 1,000 roles in 3 levels, 1,000 clients; users sent
# with each request) and copies the bundle into a temporary folder (the benchmark renames
# files in it).  Then, printing every command and keeping them in OUT/commands.txt:
#
#  1. load: pdpd starts on an empty --data-dir; the time from its exec to the first Health
#     SERVING (bench/grants/pdpwait.py polls every 2 ms), its VmRSS / VmHWM then and 2 s
#     later, its CPU time, the store's size; `pdpctl test` checks all 2,000 expected answers;
#  2. restart: pdpd stopped and started on the filled store: time to SERVING (the stored
#     snapshot), RSS, and when the start-up check of the source ended;
#  3. change: grants.json replaced (hard link + rename) by rbac-1m.grants-changed.json
#     (10,000 effects flipped): time from the rename to Health showing a new stamp (the fs
#     watch triggers the check); the new stamp compared with `pdpctl status --source`;
#     `pdpctl test` again; then the cost of a check after `touch grants.json` (read again,
#     nothing changed) and after touching a policy (grants.json not read: fingerprint);
#  4. checks: pdp-bench --compare-echo --rounds 5 on rbac-1m's checks.json, on its
#     list-allowed.json (--list-allowed) and, on a second pdpd, on examples/quickstart, each
#     ping-pong (1 x 1) and pipelined (1 x 64), --duration seconds per side (default 8):
#     ratios to echo, and rbac-1m next to quickstart shows what a million grants add;
#  5. reload-under-load: pdp-bench --verify-all (every answer decoded and compared) for
#     --reload-duration seconds (default 20) quiet, then the same while grants.json is
#     swapped between the two versions again and again (each swap waits for the new stamp): p99 during the
#     reloads against quiet, and that no answer was wrong or failed (ping-pong and 1 x 16);
#  6. stored users: the same bundle with the 100,000 users stored in entities.json
#     (rbac-1m.entities-with-users.json): load, restart and an unchanged check.
#
# OUT (default bench/results/grants-<UTC time>/, git-ignored) gets figures.json,
# summary.md (the tables docs/performance.md quotes), every pdp-bench JSON and table,
# pdpd's logs, machine.txt and commands.txt.  Takes about 4-5 minutes on 2 cores.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

out="bench/results/grants-$(date -u +%Y-%m-%dT%H%M%SZ)"
duration=8
rdur=20
build=1
gen=1
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=$2; shift 2 ;;
  --duration) duration=$2; shift 2 ;;
  --reload-duration) rdur=$2; shift 2 ;;
  --no-build) build=0; shift ;;
  --no-gen) gen=0; shift ;;
  -h | --help) sed -n '2,35p' "$0"; exit 0 ;;
  *) echo "bench/grants/daemon.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
: >"$out/commands.txt"
: >"$out/figures.txt"

say() { printf '+ %s\n' "$*"; printf '%s\n' "$*" >>"$out/commands.txt"; }
fig() { printf '%s %s\n' "$1" "$2" >>"$out/figures.txt"; printf '  = %s: %s\n' "$1" "$2"; }

if [ $build = 1 ]; then
  say python3 -m ziglang build -Doptimize=ReleaseFast --prefix zig-out/release
  python3 -m ziglang build -Doptimize=ReleaseFast --prefix zig-out/release
fi
bin=$root/zig-out/release/bin
gendir=$root/bench/scenarios/gen
if [ $gen = 1 ] || [ ! -f "$gendir/rbac-1m/grants.json" ]; then
  say python3 bench/scenarios/gen.py --out bench/scenarios/gen rbac-1m
  python3 bench/scenarios/gen.py --out "$gendir" rbac-1m
fi
wait_py="python3 $root/bench/grants/pdpwait.py"

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "kernel: $(uname -sr)"
  echo "nproc: $(nproc)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  lscpu 2>/dev/null | grep -E '^(Architecture|CPU\(s\)|Model name|Hypervisor vendor|L2|L3)' || true
  grep -E '^MemTotal' /proc/meminfo || true
  df -h "${TMPDIR:-/tmp}" | tail -1
} >"$out/machine.txt"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pdpd-grants.XXXXXX")
pid=
bpid=
cleanup() {
  for p in $bpid $pid; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
jget() { python3 -c 'import json, sys; print(json.loads(sys.argv[2])[sys.argv[1]])' "$1" "$2"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }

# start_pdpd NAME SRC DATA: start pdpd (sock $tmp/NAME.sock) and wait for SERVING; sets
# $pid and $serve_ms (exec to the first SERVING answer).  pdpwait starts first, so the
# time does not include Python's start.
start_pdpd() {
  sock=$tmp/$1.sock
  $wait_py "$sock" serving --timeout 300 >"$tmp/wait.json" &
  wpid=$!
  sleep 0.3
  say "$bin/pdpd --socket $sock --data-dir $3 --source $2"
  t0=$(now)
  "$bin/pdpd" --socket "$sock" --data-dir "$3" --source "$2" >>"$out/$1_pdpd.log" 2>&1 &
  pid=$!
  if ! wait $wpid; then
    echo "bench/grants/daemon.sh: pdpd did not serve $2 (see $out/$1_pdpd.log)" >&2
    exit 1
  fi
  serve_ms=$(ms_between "$t0" "$(jget at "$(cat "$tmp/wait.json")")")
}

stop_pdpd() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

stamp_of() { jget stamp "$($wait_py "$1" stamp)"; }

# swap_grants SRC FILE: replace SRC/grants.json by FILE (a hard link renamed over it: atomic,
# nothing copied) and wait for the new stamp; sets $swap_ms (rename to new stamp) and $stamp.
swap_grants() {
  old=$(stamp_of "$sock")
  $wait_py "$sock" stamp-change "$old" --timeout 120 >"$tmp/wait.json" &
  wpid=$!
  sleep 0.3
  ln -f "$2" "$1/.grants.json.swap"
  t0=$(now)
  mv -f "$1/.grants.json.swap" "$1/grants.json"
  wait $wpid
  w=$(cat "$tmp/wait.json")
  swap_ms=$(ms_between "$t0" "$(jget at "$w")")
  stamp=$(jget stamp "$w")
}

# check_after_touch FILE: touch FILE and wait until Status says a check ended after it; sets
# $check_ms (touch to the end of that check, from Status.last_check_unix_ms; includes the
# watch's 50 ms debounce).
check_after_touch() {
  t0=$(now)
  touch "$1"
  w=$($wait_py "$sock" checked-after "$t0" --since "$t0" --timeout 120)
  check_ms=$(jget check_end_ms "$w")
}

# ---- the bundle, copied: grants.json is renamed over during the run ----------------------
src=$tmp/rbac-1m
say cp -r bench/scenarios/gen/rbac-1m "$src"
cp -r "$gendir/rbac-1m" "$src"
cp "$gendir/rbac-1m/grants.json" "$tmp/grants-A.json"
cp "$gendir/rbac-1m.grants-changed.json" "$tmp/grants-B.json"
fig grants_json_bytes "$(stat -c %s "$src/grants.json")"
# A fingerprint taken less than 1 s after a file's mtime or ctime is not trusted (the next
# check reads the file again; docs/store.md): let the fresh copies age past that, as files
# on a real host have, so the figures below are those of the usual case.
sleep 1.2

# ---- 1. load into an empty store -----------------------------------------------------------
echo "== 1. first load (empty data dir)"
start_pdpd rbac-1m "$src" "$tmp/data"
fig load_ms "$serve_ms"
fig load_rss_kb "$(rss_kb "$pid")"
fig load_hwm_kb "$(hwm_kb "$pid")"
fig load_cpu_s "$(cpu_s "$pid")"
sleep 2
fig load_rss_2s_kb "$(rss_kb "$pid")"
fig store_bytes "$(du -k "$tmp/data/data.mdb" | cut -f1)"
say "$bin/pdpctl test --socket $sock $src"
fig test_after_load "$("$bin/pdpctl" test --socket "$sock" "$src" | tail -1)"

# ---- 2. restart on the filled store --------------------------------------------------------
echo "== 2. restart on the filled store"
stop_pdpd
start_pdpd rbac-1m "$src" "$tmp/data"
fig restart_ms "$serve_ms"
fig restart_rss_kb "$(rss_kb "$pid")"
w=$($wait_py "$sock" checked-after "$t0" --since "$t0" --timeout 120)
fig restart_check_end_ms "$(jget check_end_ms "$w")"
fig restart_rss_after_check_kb "$(rss_kb "$pid")"
fig restart_hwm_kb "$(hwm_kb "$pid")"

# ---- 3. 10,000 grants changed --------------------------------------------------------------
echo "== 3. 10,000 grants changed (rename)"
say "ln -f grants-B.json $src/.grants.json.swap && mv -f $src/.grants.json.swap $src/grants.json"
swap_grants "$src" "$tmp/grants-B.json"
fig change_ms "$swap_ms"
fig change_rss_kb "$(rss_kb "$pid")"
fig change_hwm_kb "$(hwm_kb "$pid")"
say "$bin/pdpctl status --source $src"
want=$("$bin/pdpctl" status --source "$src" | sed -n 's/^stamp: //p')
if [ "$want" = "$stamp" ]; then fig change_stamp "matches pdpctl status --source ($want)"; else fig change_stamp "MISMATCH: pdpd $stamp, pdpctl $want"; fi
fig test_after_change "$("$bin/pdpctl" test --socket "$sock" "$src" | tail -1)"
sleep 1.1 # past the 1 s racily-clean window, so the next fingerprint is trusted
say "touch $src/grants.json"
check_after_touch "$src/grants.json"
fig check_grants_touched_ms "$check_ms"
sleep 1.1
check_after_touch "$src/policies/rbac.cedar" # reads grants.json once more (fingerprint fresh)
say "touch $src/policies/rbac.cedar"
check_after_touch "$src/policies/rbac.cedar"
fig check_policy_touched_ms "$check_ms"
fig after_checks_rss_kb "$(rss_kb "$pid")"
fig after_checks_hwm_kb "$(hwm_kb "$pid")"

# ---- 4. checks and ListAllowed against echo, and quickstart --------------------------------
echo "== 4. pdp-bench"
bench() { # NAME LOAD SCENARIO-ARGS...
  name=$1 load=$2
  shift 2
  case "$load" in
  ping-pong) c=1 d=1 ;;
  pipelined) c=1 d=64 ;;
  esac
  say "$bin/pdp-bench --socket $sock $* --connections $c --depth $d --duration $duration --warmup 1 --compare-echo --rounds 5 --json $out/${name}_$load.json"
  if "$bin/pdp-bench" --socket "$sock" "$@" --connections $c --depth $d --duration "$duration" \
    --warmup 1 --compare-echo --rounds 5 --json "$out/${name}_$load.json" >"$out/${name}_$load.md" 2>&1; then
    tail -4 "$out/${name}_$load.md" | grep ratio || true
  else
    echo "  pdp-bench $name $load failed:"
    fig "bench_failed_${name}_$load" "$(grep -E '^(verified|pdp-bench:)' "$out/${name}_$load.md" | head -1)"
  fi
}
for load in ping-pong pipelined; do bench rbac-1m $load --scenario "$src"; done
for load in ping-pong pipelined; do bench list-allowed $load --scenario "$src" --list-allowed; done
rbac_sock=$sock
rbac_pid=$pid
start_pdpd quickstart "$root/examples/quickstart" "$tmp/qs.data"
for load in ping-pong pipelined; do bench quickstart $load --scenario "$root/examples/quickstart"; done
stop_pdpd
sock=$rbac_sock
pid=$rbac_pid

# ---- 5. reload-under-load -----------------------------------------------------------------
echo "== 5. reload-under-load"
reload_run() { # LOAD C D
  load=$1 c=$2 d=$3
  args="--socket $sock --scenario $src --connections $c --depth $d --duration $rdur --warmup 1 --verify-all"
  say "$bin/pdp-bench $args --json $out/reload-quiet_$load.json"
  # shellcheck disable=SC2086 # $args is a word list
  "$bin/pdp-bench" $args --json "$out/reload-quiet_$load.json" >"$out/reload-quiet_$load.md" 2>&1 ||
    fig "reload_quiet_failed_$load" "exit $?"
  say "$bin/pdp-bench $args --json $out/reload-swaps_$load.json   # while grants.json is swapped A/B"
  tb=$(now)
  # shellcheck disable=SC2086
  "$bin/pdp-bench" $args --json "$out/reload-swaps_$load.json" >"$out/reload-swaps_$load.md" 2>&1 &
  bpid=$!
  sleep 1
  n=0 inside=0 list=
  end=$(awk -v a="$tb" -v w=1 -v d="$rdur" 'BEGIN { printf "%.3f", a + w + d }')
  while kill -0 $bpid 2>/dev/null; do
    if [ "$src/grants.json" -ef "$tmp/grants-A.json" ]; then f=$tmp/grants-B.json; else f=$tmp/grants-A.json; fi
    swap_grants "$src" "$f"
    n=$((n + 1))
    if awk -v t="$(now)" -v e="$end" 'BEGIN { exit !(t <= e) }'; then inside=$((inside + 1)); fi
    list="$list $swap_ms"
  done
  if wait $bpid; then rc=0; else rc=$?; fi
  bpid=
  fig "reload_${load}_swaps" "$n ($inside inside the measured phase; ms each:$list)"
  fig "reload_${load}_bench_exit" "$rc"
}
reload_run ping-pong 1 1
reload_run pipelined16 1 16
fig reload_end_rss_kb "$(rss_kb "$pid")"
fig reload_end_hwm_kb "$(hwm_kb "$pid")"
stop_pdpd

# ---- 6. the users stored as entities -------------------------------------------------------
echo "== 6. 100,000 users stored in entities.json"
srcu=$tmp/rbac-1m-users
mkdir "$srcu"
cp -r "$src/policies" "$src/permissions" "$srcu/"
ln "$tmp/grants-A.json" "$srcu/grants.json"
cp "$gendir/rbac-1m.entities-with-users.json" "$srcu/entities.json"
cp "$src/checks.json" "$srcu/"
sleep 1.2 # past the 1 s racily-clean window (above)
start_pdpd users "$srcu" "$tmp/users.data"
fig users_load_ms "$serve_ms"
fig users_load_rss_kb "$(rss_kb "$pid")"
fig users_load_hwm_kb "$(hwm_kb "$pid")"
fig users_test "$("$bin/pdpctl" test --socket "$sock" "$srcu" | tail -1)"
stop_pdpd
start_pdpd users "$srcu" "$tmp/users.data"
fig users_restart_ms "$serve_ms"
fig users_restart_rss_kb "$(rss_kb "$pid")"
w=$($wait_py "$sock" checked-after "$t0" --since "$t0" --timeout 120)
fig users_restart_check_end_ms "$(jget check_end_ms "$w")"
sleep 1.1
check_after_touch "$srcu/policies/rbac.cedar"
fig users_check_policy_touched_ms "$check_ms"
fig users_after_check_rss_kb "$(rss_kb "$pid")"
fig users_after_check_hwm_kb "$(hwm_kb "$pid")"
stop_pdpd

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

# ---- summary ------------------------------------------------------------------------------
python3 - "$out" >"$out/summary.md" <<'EOF'
import json, os, sys
out = sys.argv[1]
figs = {}
for line in open(os.path.join(out, "figures.txt")):
    k, _, v = line.rstrip("\n").partition(" ")
    figs[k] = v
json.dump(figs, open(os.path.join(out, "figures.json"), "w"), indent=1)
mib = lambda k: "%.1f MiB" % (int(figs[k]) / 1024) if figs.get(k, "").isdigit() else "?"
print("| phase | time | pdpd VmRSS | VmHWM |")
print("|---|---:|---:|---:|")
print("| first load, empty store -> SERVING | %s ms | %s (%s 2 s later) | %s |" % (
    figs.get("load_ms"), mib("load_rss_kb"), mib("load_rss_2s_kb"), mib("load_hwm_kb")))
print("| restart on the filled store -> SERVING | %s ms | %s | |" % (
    figs.get("restart_ms"), mib("restart_rss_kb")))
print("| start-up check after the restart ends | %s ms | %s | %s |" % (
    figs.get("restart_check_end_ms"), mib("restart_rss_after_check_kb"), mib("restart_hwm_kb")))
print("| 10,000 grants changed: rename -> new stamp | %s ms | %s | %s |" % (
    figs.get("change_ms"), mib("change_rss_kb"), mib("change_hwm_kb")))
print("| check after touch grants.json (read, nothing changed) | %s ms | | |" % figs.get("check_grants_touched_ms"))
print("| check after touching a policy (grants.json not read) | %s ms | %s | %s |" % (
    figs.get("check_policy_touched_ms"), mib("after_checks_rss_kb"), mib("after_checks_hwm_kb")))
print("| stored users: first load -> SERVING | %s ms | %s | %s |" % (
    figs.get("users_load_ms"), mib("users_load_rss_kb"), mib("users_load_hwm_kb")))
print("| stored users: restart -> SERVING | %s ms | %s | |" % (
    figs.get("users_restart_ms"), mib("users_restart_rss_kb")))
print("| stored users: start-up check ends | %s ms | | |" % figs.get("users_restart_check_end_ms"))
print("| stored users: check after touching a policy | %s ms | %s | %s |" % (
    figs.get("users_check_policy_touched_ms"), mib("users_after_check_rss_kb"), mib("users_after_check_hwm_kb")))
print()
for k in ("load_cpu_s", "store_bytes", "grants_json_bytes", "test_after_load", "change_stamp",
          "test_after_change", "users_test"):
    print("- %s: %s" % (k, figs.get(k)))
print()
print("| scenario | load | pdpd req/s | echo req/s | thr. ratio | p50 us (echo) | p50 ratio | p99 us (echo) | p99 ratio | p99.9 us | verified / wrong |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc in ("quickstart", "rbac-1m", "list-allowed"):
    for load in ("ping-pong", "pipelined"):
        f = os.path.join(out, "%s_%s.json" % (sc, load))
        if not os.path.exists(f):
            print("| %s | %s | not run (%s) | | | | | | | | |" % (sc, load, figs.get("bench_failed_%s_%s" % (sc, load), "?")))
            continue
        r = json.load(open(f))
        p, e = r["pdpd"], r["echo"]
        q = lambda k: p[k] / e[k] if e[k] else 0
        print("| %s | %s | %.0f | %.0f | %.2f | %.1f (%.1f) | %.2f | %.1f (%.1f) | %.2f | %.1f | %d / %d |" % (
            sc, load, p["throughput_rps"], e["throughput_rps"], q("throughput_rps"), p["p50_us"],
            e["p50_us"], q("p50_us"), p["p99_us"], e["p99_us"], q("p99_us"), p["p999_us"],
            r["verified"], r["wrong"]))
def delta(sc, load, k):
    try:
        a = json.load(open(os.path.join(out, "%s_%s.json" % (sc, load))))
        b = json.load(open(os.path.join(out, "quickstart_%s.json" % load)))
        return "%.1f" % ((a["pdpd"][k] - a["echo"][k]) - (b["pdpd"][k] - b["echo"][k]))
    except (OSError, KeyError):
        return "?"
print()
print("pdpd's own time over echo's, rbac-1m minus quickstart (us): ping-pong p50 %s, p99 %s" % (
    delta("rbac-1m", "ping-pong", "p50_us"), delta("rbac-1m", "ping-pong", "p99_us")))
print()
print("| reload-under-load | load | answers | req/s | p50 us | p99 us | p99.9 us | max us | verified / wrong | swaps |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
for load in ("ping-pong", "pipelined16"):
    for phase in ("quiet", "swaps"):
        f = os.path.join(out, "reload-%s_%s.json" % (phase, load))
        if not os.path.exists(f):
            continue
        r = json.load(open(f))
        p = r["pdpd"]
        sw = figs.get("reload_%s_swaps" % load, "") if phase == "swaps" else ""
        print("| %s | %s | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f | %d / %d | %s |" % (
            phase, load, p["answers"], p["throughput_rps"], p["p50_us"], p["p99_us"], p["p999_us"],
            p["max_us"], r["verified"], r["wrong"], sw))
EOF
echo
cat "$out/summary.md"
echo
echo "results: $out"
