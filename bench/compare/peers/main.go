// peers - the load generator for the peer comparison (bench/compare/README.md).
//
//	peers opa-data  --scenario DIR                  print OPA's data document (JSON)
//	peers verify    --target T --socket S --scenario DIR
//	                 send every check once, print a table, exit 1 on any mismatch
//	peers load      --target T --socket S --scenario DIR --connections N --depth D
//	                 --duration SEC [--warmup SEC] [--json FILE]
//
// T is opa (HTTP/1.1 on a Unix socket: N x D keep-alive connections, one request each in
// flight), cerbos (gRPC on a Unix socket: N HTTP/2 connections, D concurrent unary calls
// each) or pdpd (N connections, D pipelined frames each, like pdp-bench).  Requests cycle
// through the scenario's checks; latency is from just before a request is written to the
// read that completed its answer; the first pass of answers of every worker is decoded and
// checked against checks.json.  Output: a Markdown table on stdout and, with --json, the
// same fields as pdp-bench --json, keyed by the target's name.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
)

type opts struct {
	target, socket, scenario, jsonOut string
	connections, depth                int
	duration, warmup                  float64
}

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "peers: "+format+"\n", a...)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		die("usage: peers opa-data|verify|load [options] (see main.go)")
	}
	cmd := os.Args[1]
	var o opts
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	fs.StringVar(&o.target, "target", "", "opa, cerbos or pdpd")
	fs.StringVar(&o.socket, "socket", "", "the server's Unix socket")
	fs.StringVar(&o.scenario, "scenario", "examples/quickstart", "bundle directory with checks.json")
	fs.StringVar(&o.jsonOut, "json", "", "write the results as JSON to this file")
	fs.IntVar(&o.connections, "connections", 1, "connections")
	fs.IntVar(&o.depth, "depth", 1, "requests in flight per connection")
	fs.Float64Var(&o.duration, "duration", 5, "measured seconds")
	fs.Float64Var(&o.warmup, "warmup", 1, "unmeasured seconds before")
	fs.Parse(os.Args[2:])
	sc, err := loadScenario(o.scenario)
	if err != nil {
		die("%v", err)
	}
	switch cmd {
	case "opa-data":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		if err := enc.Encode(opaData(sc)); err != nil {
			die("%v", err)
		}
	case "verify":
		if o.socket == "" {
			die("verify: --socket is required")
		}
		os.Exit(verify(&o, sc))
	case "load":
		if o.socket == "" {
			die("load: --socket is required")
		}
		if o.connections < 1 || o.connections > 1024 || o.depth < 1 || o.depth > 1024 || o.duration <= 0 || o.warmup < 0 {
			die("load: connections and depth in 1..1024, duration > 0, warmup >= 0")
		}
		os.Exit(load(&o, sc))
	default:
		die("unknown command %q", cmd)
	}
}

// --- verify ---

type answer struct {
	decision string
	reasons  []string // nil when the peer does not say
}

// caller sends check i once and returns the answer; one per target.
func newCaller(o *opts, sc *scenario) (func(i int) (answer, error), func(), error) {
	switch o.target {
	case "opa":
		reqs, err := opaRequests(sc)
		if err != nil {
			return nil, nil, err
		}
		c, err := dialOPA(o.socket)
		if err != nil {
			return nil, nil, err
		}
		return func(i int) (answer, error) {
			body, err := c.call(reqs[i])
			if err != nil {
				return answer{}, err
			}
			d, r, err := opaDecode(body)
			return answer{d, r}, err
		}, c.close, nil
	case "cerbos":
		reqs, err := cerbosRequests(sc)
		if err != nil {
			return nil, nil, err
		}
		cc, err := dialCerbos(o.socket)
		if err != nil {
			return nil, nil, err
		}
		var resp []byte
		return func(i int) (answer, error) {
			if err := cerbosCall(cc, reqs[i], &resp); err != nil {
				return answer{}, err
			}
			d, err := cerbosDecode(resp, sc.Checks[i].Action.ID)
			return answer{d, nil}, err
		}, func() { cc.Close() }, nil
	case "pdpd":
		bodies, err := pdpdBodies(sc)
		if err != nil {
			return nil, nil, err
		}
		c, err := dialPDPD(o.socket)
		if err != nil {
			return nil, nil, err
		}
		return func(i int) (answer, error) {
			c.frame(uint64(i+1), bodies[i])
			if err := c.flush(); err != nil {
				return answer{}, err
			}
			b, err := c.read()
			if err != nil {
				return answer{}, err
			}
			_, d, r, err := pdpdDecode(b)
			if r == nil {
				r = []string{}
			}
			return answer{d, r}, err
		}, func() { c.c.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown target %q (opa, cerbos, pdpd)", o.target)
}

func verify(o *opts, sc *scenario) int {
	call, closeFn, err := newCaller(o, sc)
	if err != nil {
		die("verify %s: %v", o.target, err)
	}
	defer closeFn()
	fmt.Printf("| # | check | expected | %s | reasons | |\n|---:|---|---|---|---|---|\n", o.target)
	bad := 0
	for i := range sc.Checks {
		c := &sc.Checks[i]
		a, err := call(i)
		got, reasons, mark := a.decision, "n/a", "ok"
		if err != nil {
			got = "error: " + err.Error()
		}
		if a.reasons != nil && c.Reason != nil {
			want := slices.Clone(c.Reason)
			slices.Sort(want)
			want = slices.Compact(want)
			if slices.Equal(want, a.reasons) {
				reasons = "same"
			} else {
				reasons = fmt.Sprintf("**%v, want %v**", a.reasons, want)
			}
		}
		if got != c.Decision || strings.HasPrefix(reasons, "**") {
			mark = "**MISMATCH**"
			bad++
		}
		fmt.Printf("| %d | %s | %s | %s | %s | %s |\n", i+1, c.Name, c.Decision, got, reasons, mark)
	}
	fmt.Printf("\n%s: %d checks, %d mismatches\n", o.target, len(sc.Checks), bad)
	if bad > 0 {
		return 1
	}
	return 0
}

// --- load ---

type tally struct {
	h        hist
	errors   uint64
	verified uint64
	wrong    uint64
	firstBad string
}

func (t *tally) bad(format string, a ...any) {
	if t.firstBad == "" {
		t.firstBad = fmt.Sprintf(format, a...)
	}
}

type clock struct{ start, measure, end time.Time }

func (k *clock) record(t *tally, t0, t1 time.Time) {
	if !t0.Before(k.measure) && !t1.After(k.end) {
		t.h.add(uint64(t1.Sub(t0).Nanoseconds()))
	}
}

func (t *tally) check(c *check, decision string) {
	t.verified++
	if decision != c.Decision {
		t.wrong++
		t.bad("%q: %s, want %s", c.Name, decision, c.Decision)
	}
}

func load(o *opts, sc *scenario) int {
	n := len(sc.Checks)
	var workers int
	var run func(w int, k *clock, t *tally)
	switch o.target {
	case "opa":
		reqs, err := opaRequests(sc)
		if err != nil {
			die("%v", err)
		}
		workers = o.connections * o.depth
		conns := make([]*opaConn, workers)
		for i := range conns {
			if conns[i], err = dialOPA(o.socket); err != nil {
				die("opa: %v", err)
			}
		}
		run = func(w int, k *clock, t *tally) {
			c := conns[w]
			defer c.close()
			for j := 0; ; j++ {
				i := (w + j) % n
				t0 := time.Now()
				if !t0.Before(k.end) {
					return
				}
				body, err := c.call(reqs[i])
				t1 := time.Now()
				if err != nil {
					t.errors++
					t.bad("%v", err)
					return
				}
				k.record(t, t0, t1)
				if j < n {
					d, _, err := opaDecode(body)
					if err != nil {
						t.errors++
						t.bad("%v", err)
					}
					t.check(&sc.Checks[i], d)
				}
			}
		}
	case "cerbos":
		reqs, err := cerbosRequests(sc)
		if err != nil {
			die("%v", err)
		}
		workers = o.connections * o.depth
		ccs := make([]*grpc.ClientConn, o.connections)
		for i := range ccs {
			if ccs[i], err = dialCerbos(o.socket); err != nil {
				die("cerbos: %v", err)
			}
			ccs[i].Connect()
			defer ccs[i].Close()
		}
		run = func(w int, k *clock, t *tally) {
			cc := ccs[w/o.depth]
			var resp []byte
			for j := 0; ; j++ {
				i := (w + j) % n
				t0 := time.Now()
				if !t0.Before(k.end) {
					return
				}
				err := cerbosCall(cc, reqs[i], &resp)
				t1 := time.Now()
				if err != nil {
					t.errors++
					t.bad("%v", err)
					return
				}
				k.record(t, t0, t1)
				if j < n {
					d, err := cerbosDecode(resp, sc.Checks[i].Action.ID)
					if err != nil {
						t.errors++
						t.bad("%v", err)
					}
					t.check(&sc.Checks[i], d)
				}
			}
		}
	case "pdpd":
		bodies, err := pdpdBodies(sc)
		if err != nil {
			die("%v", err)
		}
		workers = o.connections
		conns := make([]*pdpdConn, workers)
		for i := range conns {
			if conns[i], err = dialPDPD(o.socket); err != nil {
				die("pdpd: %v", err)
			}
		}
		run = func(w int, k *clock, t *tally) {
			c := conns[w]
			defer c.c.Close()
			type sent struct {
				at    time.Time
				check int
			}
			inflight := map[uint64]sent{}
			next := uint64(1)
			answered := 0
			send := func() {
				i := (w + int(next)) % n
				inflight[next] = sent{time.Now(), i}
				c.frame(next, bodies[i])
				next++
			}
			for d := 0; d < o.depth; d++ {
				send()
			}
			if err := c.flush(); err != nil {
				t.errors++
				t.bad("%v", err)
				return
			}
			for len(inflight) > 0 {
				b, err := c.read()
				t1 := time.Now()
				if err != nil {
					t.errors++
					t.bad("%v", err)
					return
				}
				id, d, _, err := pdpdDecode(b)
				s, ok := inflight[id]
				if !ok {
					t.errors++
					t.bad("answer to unknown id %d", id)
					return
				}
				delete(inflight, id)
				if err != nil {
					t.errors++
					t.bad("%v", err)
				}
				k.record(t, s.at, t1)
				if answered < n {
					t.check(&sc.Checks[s.check], d)
				}
				answered++
				if t1.Before(k.end) {
					send()
					// send the frames of every answer already buffered with one write
					if c.br.Buffered() == 0 {
						if err := c.flush(); err != nil {
							t.errors++
							t.bad("%v", err)
							return
						}
					}
				} else if len(c.wb) > 0 {
					c.flush()
				}
			}
		}
	default:
		die("unknown target %q (opa, cerbos, pdpd)", o.target)
	}

	tallies := make([]tally, workers)
	now := time.Now()
	k := &clock{start: now}
	k.measure = now.Add(time.Duration(o.warmup * float64(time.Second)))
	k.end = k.measure.Add(time.Duration(o.duration * float64(time.Second)))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			run(w, k, &tallies[w])
		}(w)
	}
	wg.Wait()
	var all tally
	for i := range tallies {
		t := &tallies[i]
		all.h.merge(&t.h)
		all.errors += t.errors
		all.verified += t.verified
		all.wrong += t.wrong
		if all.firstBad == "" {
			all.firstBad = t.firstBad
		}
	}
	report(o, sc, &all)
	if all.errors > 0 || all.wrong > 0 || all.h.n == 0 {
		fmt.Fprintf(os.Stderr, "peers: %s: %d errors, %d wrong answers; first: %s\n", o.target, all.errors, all.wrong, all.firstBad)
		return 1
	}
	return 0
}

func report(o *opts, sc *scenario, t *tally) {
	us := func(q float64) float64 { return float64(t.h.quantile(q)) / 1000 }
	vals := []float64{float64(t.h.n) / o.duration, us(0.5), us(0.9), us(0.99), us(0.999), us(1), float64(t.h.n)}
	keys := []string{"throughput_rps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "answers"}
	labels := []string{"throughput (checks/s)", "p50 (us)", "p90 (us)", "p99 (us)", "p99.9 (us)", "max (us)", "answers"}
	fmt.Printf("%s: %s, %d connection(s) x depth %d, %gs (+%gs warm-up), %d answers checked, %d wrong, %d errors; generator GOMAXPROCS=%d\n\n",
		o.target, sc.Dir, o.connections, o.depth, o.duration, o.warmup, t.verified, t.wrong, t.errors, runtime.GOMAXPROCS(0))
	fmt.Printf("| metric | %s |\n|---|---:|\n", o.target)
	for i := range keys {
		fmt.Printf("| %s | %.1f |\n", labels[i], vals[i])
	}
	if o.jsonOut == "" {
		return
	}
	m := map[string]any{}
	for i, key := range keys {
		m[key] = vals[i]
	}
	out := map[string]any{
		"scenario": sc.Dir, "connections": o.connections, "depth": o.depth,
		"verified": t.verified, "wrong": t.wrong, "errors": t.errors,
		o.target: m,
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
		die("%v", err)
	}
}
