// cerbos.go - Cerbos's side: each check as a CheckResources request (encoded with protowire
// from the field numbers of cerbos/request/v1/request.proto and cerbos/engine/v1/engine.proto
// at v0.55.0, so the generator needs only grpc and protobuf), sent as raw bytes on Cerbos's
// gRPC API over the Unix socket.
//
// Cerbos keeps no entity store: callers send the principal's roles and attributes and the
// resource's attributes with every request.  They are taken from the entities the check
// sees (stored + request-scoped): roles = "user" + the ids of the principal's Role
// ancestors; attr.teams = the ids of its Team ancestors; the other attributes as they are,
// an entity reference becoming its id.  Cedar's context record has no place in a Cerbos
// request: its `network` key travels as the principal attribute `network`.
package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

const cerbosMethod = "/cerbos.svc.v1.CerbosService/CheckResources"

func cerbosRef(u uid) string { return u.ID }

func appendAttrs(b []byte, field protowire.Number, attrs map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := structpb.NewValue(attrs[k])
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %v", k, err)
		}
		vb, err := proto.Marshal(v)
		if err != nil {
			return nil, err
		}
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, vb)
		b = protowire.AppendTag(b, field, protowire.BytesType)
		b = protowire.AppendBytes(b, entry)
	}
	return b, nil
}

func cerbosRequest(sc *scenario, c *check) ([]byte, error) {
	view := sc.view(c)
	pattrs := map[string]any{}
	roles := []string{"user"}
	teams := []any{}
	if p, ok := view[c.Principal.key()]; ok {
		for k, v := range flatten(p.Attrs, cerbosRef).(map[string]any) {
			pattrs[k] = v
		}
	}
	for _, a := range ancestors(view, c.Principal.key()) {
		ty, id, _ := strings.Cut(a, "::")
		switch ty {
		case "Role":
			roles = append(roles, id)
		case "Team":
			teams = append(teams, id)
		}
	}
	pattrs["teams"] = teams
	if n, ok := c.Context["network"]; ok {
		pattrs["network"] = n
	}
	rattrs := map[string]any{}
	if r, ok := view[c.Resource.key()]; ok {
		rattrs = flatten(r.Attrs, cerbosRef).(map[string]any)
	}

	var princ []byte
	princ = protowire.AppendTag(princ, 1, protowire.BytesType)
	princ = protowire.AppendString(princ, c.Principal.ID)
	for _, r := range roles {
		princ = protowire.AppendTag(princ, 3, protowire.BytesType)
		princ = protowire.AppendString(princ, r)
	}
	princ, err := appendAttrs(princ, 4, pattrs)
	if err != nil {
		return nil, err
	}
	var res []byte
	res = protowire.AppendTag(res, 1, protowire.BytesType)
	res = protowire.AppendString(res, c.Resource.Type)
	res = protowire.AppendTag(res, 3, protowire.BytesType)
	res = protowire.AppendString(res, c.Resource.ID)
	if res, err = appendAttrs(res, 4, rattrs); err != nil {
		return nil, err
	}
	var entry []byte
	entry = protowire.AppendTag(entry, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, c.Action.ID)
	entry = protowire.AppendTag(entry, 2, protowire.BytesType)
	entry = protowire.AppendBytes(entry, res)

	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendString(req, "bench")
	req = protowire.AppendTag(req, 3, protowire.BytesType)
	req = protowire.AppendBytes(req, princ)
	req = protowire.AppendTag(req, 4, protowire.BytesType)
	req = protowire.AppendBytes(req, entry)
	return req, nil
}

func cerbosRequests(sc *scenario) ([][]byte, error) {
	var out [][]byte
	for i := range sc.Checks {
		r, err := cerbosRequest(sc, &sc.Checks[i])
		if err != nil {
			return nil, fmt.Errorf("check %d: %v", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// rawCodec passes pre-encoded protobuf bytes through gRPC.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func dialCerbos(socket string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
}

func cerbosCall(cc *grpc.ClientConn, req []byte, resp *[]byte) error {
	return cc.Invoke(context.Background(), cerbosMethod, &req, resp)
}

// cerbosDecode reads results[0].actions (map<string, Effect>) of CheckResourcesResponse.
func cerbosDecode(b []byte, action string) (string, error) {
	effect := int64(-1)
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		if num != 2 || typ != protowire.BytesType {
			return nil
		}
		return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
			if num != 2 || typ != protowire.BytesType {
				return nil
			}
			var key string
			val := int64(0)
			err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					key = string(v)
				case num == 2 && typ == protowire.VarintType:
					val = int64(n)
				}
				return nil
			})
			if key == action {
				effect = val
			}
			return err
		})
	})
	if err != nil {
		return "", err
	}
	switch effect {
	case 1:
		return "allow", nil
	case 2, 3:
		return "deny", nil
	}
	return "", fmt.Errorf("no effect for action %q in the response", action)
}

// walk calls f for each field of a protobuf message (bytes for length-delimited fields,
// the value for varints).
func walk(b []byte, f func(protowire.Number, protowire.Type, []byte, uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if err := f(num, typ, nil, v); err != nil {
				return err
			}
			b = b[m:]
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if err := f(num, typ, v, 0); err != nil {
				return err
			}
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
		}
	}
	return nil
}
