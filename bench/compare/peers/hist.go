// hist.go - the latency histogram, the same buckets as bench/harness/hist.c: exact below
// 256 ns, then 128 sub-buckets per power of two (error < 1/128 < 1%), the bucket's
// midpoint reported, the maximum kept exactly.
package main

import "math/bits"

const (
	histSub     = 128
	histBuckets = 256 + 56*histSub
)

type hist struct {
	counts [histBuckets]uint64
	n, max uint64
}

func bucketOf(v uint64) int {
	if v < 256 {
		return int(v)
	}
	e := bits.Len64(v) - 1 - 7
	idx := 256 + (e-1)*histSub + int(v>>uint(e)) - 128
	if idx >= histBuckets {
		return histBuckets - 1
	}
	return idx
}

func valueOf(idx int) uint64 {
	if idx < 256 {
		return uint64(idx)
	}
	e := (idx-256)/histSub + 1
	sub := uint64((idx-256)%histSub + 128)
	return sub<<uint(e) + 1<<uint(e-1)
}

func (h *hist) add(ns uint64) {
	h.counts[bucketOf(ns)]++
	h.n++
	if ns > h.max {
		h.max = ns
	}
}

func (h *hist) merge(o *hist) {
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

func (h *hist) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			if v := valueOf(i); v < h.max {
				return v
			}
			return h.max
		}
	}
	return h.max
}
