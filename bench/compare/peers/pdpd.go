// pdpd.go - pdpd's side, as a control: the same checks as pdp.v1 CheckRequest frames
// (proto/pdp.proto; 4-byte big-endian length + Request), so this generator can drive pdpd
// too and show how much of a difference is the generator's (Go) rather than the server's.
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

func pdpdUID(b []byte, field protowire.Number, u uid) []byte {
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType)
	m = protowire.AppendString(m, u.Type)
	m = protowire.AppendTag(m, 2, protowire.BytesType)
	m = protowire.AppendString(m, u.ID)
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func pdpdValue(v any) ([]byte, error) {
	var m []byte
	switch t := v.(type) {
	case bool:
		m = protowire.AppendTag(m, 1, protowire.VarintType)
		m = protowire.AppendVarint(m, protowire.EncodeBool(t))
	case float64:
		if t != math.Trunc(t) {
			return nil, fmt.Errorf("not an integer: %v", t)
		}
		m = protowire.AppendTag(m, 2, protowire.VarintType)
		m = protowire.AppendVarint(m, protowire.EncodeZigZag(int64(t)))
	case string:
		m = protowire.AppendTag(m, 3, protowire.BytesType)
		m = protowire.AppendString(m, t)
	case []any:
		var set []byte
		for _, x := range t {
			xb, err := pdpdValue(x)
			if err != nil {
				return nil, err
			}
			set = protowire.AppendTag(set, 1, protowire.BytesType)
			set = protowire.AppendBytes(set, xb)
		}
		m = protowire.AppendTag(m, 5, protowire.BytesType)
		m = protowire.AppendBytes(m, set)
	case map[string]any:
		if _, ok := t["__entity"]; ok {
			u, err := parseUID(t)
			if err != nil {
				return nil, err
			}
			return pdpdUID(nil, 4, u), nil
		}
		rec, err := pdpdRecord(t)
		if err != nil {
			return nil, err
		}
		m = protowire.AppendTag(m, 6, protowire.BytesType)
		m = protowire.AppendBytes(m, rec)
	default:
		return nil, fmt.Errorf("unsupported value %v", v)
	}
	return m, nil
}

// pdpdRecord encodes the fields of a Record (repeated Attribute fields = 1).
func pdpdRecord(r map[string]any) ([]byte, error) {
	return pdpdAttrs(nil, 1, r)
}

func pdpdAttrs(b []byte, field protowire.Number, r map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vb, err := pdpdValue(r[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", k, err)
		}
		var a []byte
		a = protowire.AppendTag(a, 1, protowire.BytesType)
		a = protowire.AppendString(a, k)
		a = protowire.AppendTag(a, 2, protowire.BytesType)
		a = protowire.AppendBytes(a, vb)
		b = protowire.AppendTag(b, field, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	return b, nil
}

// pdpdBody is the Request's check field (tag + CheckRequest); the id is added per send.
func pdpdBody(c *check) ([]byte, error) {
	var cr []byte
	cr = pdpdUID(cr, 1, c.Principal)
	cr = pdpdUID(cr, 3, c.Action)
	cr = pdpdUID(cr, 4, c.Resource)
	if len(c.Context) > 0 {
		rec, err := pdpdRecord(c.Context)
		if err != nil {
			return nil, fmt.Errorf("context.%v", err)
		}
		cr = protowire.AppendTag(cr, 5, protowire.BytesType)
		cr = protowire.AppendBytes(cr, rec)
	}
	for _, e := range c.Entities {
		var eb []byte
		eb = pdpdUID(eb, 1, e.UID)
		var err error
		if eb, err = pdpdAttrs(eb, 2, e.Attrs); err != nil {
			return nil, err
		}
		for _, p := range e.Parents {
			eb = pdpdUID(eb, 3, p)
		}
		cr = protowire.AppendTag(cr, 6, protowire.BytesType)
		cr = protowire.AppendBytes(cr, eb)
	}
	var b []byte
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, cr), nil
}

func pdpdBodies(sc *scenario) ([][]byte, error) {
	var out [][]byte
	for i := range sc.Checks {
		b, err := pdpdBody(&sc.Checks[i])
		if err != nil {
			return nil, fmt.Errorf("check %d: %v", i, err)
		}
		out = append(out, b)
	}
	return out, nil
}

type pdpdConn struct {
	c  net.Conn
	br *bufio.Reader
	wb []byte
	rb []byte
}

func dialPDPD(socket string) (*pdpdConn, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return nil, err
	}
	return &pdpdConn{c: c, br: bufio.NewReaderSize(c, 65536)}, nil
}

// frame appends one length-prefixed Request{id, check} to p.wb.
func (p *pdpdConn) frame(id uint64, body []byte) {
	n := protowire.SizeTag(1) + protowire.SizeVarint(id) + len(body)
	p.wb = binary.BigEndian.AppendUint32(p.wb, uint32(n))
	p.wb = protowire.AppendTag(p.wb, 1, protowire.VarintType)
	p.wb = protowire.AppendVarint(p.wb, id)
	p.wb = append(p.wb, body...)
}

func (p *pdpdConn) flush() error {
	_, err := p.c.Write(p.wb)
	p.wb = p.wb[:0]
	return err
}

// read returns the next Response frame.
func (p *pdpdConn) read() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 1<<24 {
		return nil, fmt.Errorf("response frame of %d bytes", n)
	}
	if cap(p.rb) < int(n) {
		p.rb = make([]byte, n)
	}
	p.rb = p.rb[:n]
	_, err := io.ReadFull(p.br, p.rb)
	return p.rb, err
}

// pdpdDecode returns id, decision and reasons of a Response (an error unless status OK).
func pdpdDecode(b []byte) (uint64, string, []string, error) {
	var id uint64
	code := uint64(0)
	var msg, dec string
	var reasons []string
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			id = n
		case num == 2 && typ == protowire.BytesType:
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				if num == 1 && typ == protowire.VarintType {
					code = n
				} else if num == 2 {
					msg = string(v)
				}
				return nil
			})
		case num == 3 && typ == protowire.BytesType:
			dec = "deny"
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				if num == 1 && typ == protowire.VarintType && n == 1 {
					dec = "allow"
				} else if num == 2 && typ == protowire.BytesType {
					reasons = append(reasons, string(v))
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return id, "", nil, err
	}
	if code != 1 {
		return id, "", nil, fmt.Errorf("status %d: %s", code, msg)
	}
	sort.Strings(reasons)
	return id, dec, reasons, nil
}
