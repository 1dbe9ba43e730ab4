// opa.go - OPA's side: the data document (`peers opa-data`), the input document of each
// check, and a minimal HTTP/1.1 keep-alive client over the Unix socket.
//
// HTTP/1.1 answers one request at a time per connection, so D requests in flight per
// connection slot are D connections: the load opens connections x depth keep-alive
// connections, each with one request outstanding.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
)

const opaPath = "/v1/data/pdp/quickstart/decision"

func opaRef(u uid) string { return u.key() }

func opaEntity(view map[string]entity, e entity) map[string]any {
	return map[string]any{
		"attrs":     flatten(e.Attrs, opaRef),
		"ancestors": ancestors(view, e.UID.key()),
	}
}

// opaData is data.quickstart: stored entities keyed by uid and the share-view links.
func opaData(sc *scenario) map[string]any {
	ents := map[string]any{}
	for _, k := range sc.Order {
		ents[k] = opaEntity(sc.Stored, sc.Stored[k])
	}
	shares := []any{}
	for _, l := range sc.Links {
		if l.Template != "share-view" {
			continue
		}
		shares = append(shares, map[string]any{"id": l.ID, "principal": l.Principal.key(), "resource": l.Resource.key()})
	}
	return map[string]any{"quickstart": map[string]any{"entities": ents, "shares": shares}}
}

func opaInput(sc *scenario, c *check) map[string]any {
	in := map[string]any{
		"principal": c.Principal.key(),
		"action":    c.Action.key(),
		"resource":  c.Resource.key(),
		"context":   map[string]any{},
	}
	if c.Context != nil {
		in["context"] = flatten(c.Context, opaRef)
	}
	if len(c.Entities) > 0 {
		view := sc.view(c)
		re := map[string]any{}
		for _, e := range c.Entities {
			re[e.UID.key()] = opaEntity(view, e)
		}
		in["entities"] = re
	}
	return in
}

func opaRequests(sc *scenario) ([][]byte, error) {
	var out [][]byte
	for i := range sc.Checks {
		body, err := json.Marshal(map[string]any{"input": opaInput(sc, &sc.Checks[i])})
		if err != nil {
			return nil, err
		}
		req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: opa\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", opaPath, len(body))
		out = append(out, append([]byte(req), body...))
	}
	return out, nil
}

type opaConn struct {
	c   net.Conn
	br  *bufio.Reader
	buf []byte
}

func dialOPA(socket string) (*opaConn, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return nil, err
	}
	return &opaConn{c: c, br: bufio.NewReaderSize(c, 16384)}, nil
}

// call sends one pre-built request and returns the response body.
func (o *opaConn) call(req []byte) ([]byte, error) {
	if _, err := o.c.Write(req); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(o.br, nil)
	if err != nil {
		return nil, err
	}
	o.buf = o.buf[:0]
	var chunk [4096]byte
	for {
		n, rerr := resp.Body.Read(chunk[:])
		o.buf = append(o.buf, chunk[:n]...)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, o.buf)
	}
	return o.buf, nil
}

func (o *opaConn) close() { o.c.Close() }

// opaDecode reads {"result": {"allow": bool, "reasons": [...]}}.
func opaDecode(body []byte) (string, []string, error) {
	var r struct {
		Result *struct {
			Allow   bool     `json:"allow"`
			Reasons []string `json:"reasons"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", nil, err
	}
	if r.Result == nil {
		return "", nil, fmt.Errorf("no result (is the policy loaded?): %s", body)
	}
	sort.Strings(r.Result.Reasons)
	if r.Result.Allow {
		return "allow", r.Result.Reasons, nil
	}
	return "deny", r.Result.Reasons, nil
}
