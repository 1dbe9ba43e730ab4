// scenario.go - reads a bundle's checks.json, entities.json and template-links.json and
// turns each check into what every peer expects on the wire: the OPA input document, the
// Cerbos CheckResources request and the pdpd CheckRequest frame.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

type uid struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func (u uid) key() string { return u.Type + "::" + u.ID }

type entity struct {
	UID     uid
	Attrs   map[string]any // Cedar JSON values, as decoded
	Parents []uid
}

type check struct {
	Name      string
	Principal uid
	Action    uid
	Resource  uid
	Context   map[string]any
	Entities  []entity // request-scoped
	Decision  string   // "allow" / "deny"
	Reason    []string // nil = not checked
}

type scenario struct {
	Dir      string
	Stored   map[string]entity
	Order    []string // stored entity keys in file order
	Links    []link
	Checks   []check
}

type link struct {
	ID        string
	Template  string
	Principal uid
	Resource  uid
}

var cedarUID = regexp.MustCompile(`^(.+)::"((?:[^"\\]|\\.)*)"$`)

// parseUID accepts {"type","id"}, {"__entity": {...}} and `Type::"id"`.
func parseUID(v any) (uid, error) {
	switch t := v.(type) {
	case string:
		m := cedarUID.FindStringSubmatch(t)
		if m == nil {
			return uid{}, fmt.Errorf("not an entity uid: %q", t)
		}
		return uid{m[1], strings.ReplaceAll(m[2], `\"`, `"`)}, nil
	case map[string]any:
		if inner, ok := t["__entity"]; ok {
			return parseUID(inner)
		}
		ty, ok1 := t["type"].(string)
		id, ok2 := t["id"].(string)
		if !ok1 || !ok2 {
			return uid{}, fmt.Errorf("entity uid needs string type and id: %v", t)
		}
		return uid{ty, id}, nil
	}
	return uid{}, fmt.Errorf("not an entity uid: %v", v)
}

func parseEntities(raw []any) ([]entity, error) {
	var out []entity
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("entities[%d]: not an object", i)
		}
		u, err := parseUID(m["uid"])
		if err != nil {
			return nil, fmt.Errorf("entities[%d].uid: %v", i, err)
		}
		e := entity{UID: u, Attrs: map[string]any{}}
		if a, ok := m["attrs"].(map[string]any); ok {
			e.Attrs = a
		}
		if ps, ok := m["parents"].([]any); ok {
			for j, p := range ps {
				pu, err := parseUID(p)
				if err != nil {
					return nil, fmt.Errorf("entities[%d].parents[%d]: %v", i, j, err)
				}
				e.Parents = append(e.Parents, pu)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func readJSON(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}

func loadScenario(dir string) (*scenario, error) {
	sc := &scenario{Dir: dir, Stored: map[string]entity{}}
	var rawEnts []any
	if err := readJSON(filepath.Join(dir, "entities.json"), &rawEnts); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	ents, err := parseEntities(rawEnts)
	if err != nil {
		return nil, fmt.Errorf("entities.json: %v", err)
	}
	for _, e := range ents {
		sc.Stored[e.UID.key()] = e
		sc.Order = append(sc.Order, e.UID.key())
	}
	var rawLinks []map[string]any
	if err := readJSON(filepath.Join(dir, "template-links.json"), &rawLinks); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for i, l := range rawLinks {
		vals, _ := l["values"].(map[string]any)
		p, err1 := parseUID(vals["?principal"])
		r, err2 := parseUID(vals["?resource"])
		id, _ := l["newId"].(string)
		tpl, _ := l["templateId"].(string)
		if err1 != nil || err2 != nil || id == "" {
			return nil, fmt.Errorf("template-links.json[%d]: needs newId, ?principal and ?resource", i)
		}
		sc.Links = append(sc.Links, link{id, tpl, p, r})
	}
	var file struct {
		Entities []any            `json:"entities"`
		Checks   []map[string]any `json:"checks"`
	}
	if err := readJSON(filepath.Join(dir, "checks.json"), &file); err != nil {
		return nil, err
	}
	if len(file.Entities) > 0 {
		return nil, fmt.Errorf("checks.json: top-level entities are not supported here")
	}
	for i, c := range file.Checks {
		var k check
		k.Name, _ = c["name"].(string)
		if k.Principal, err = parseUID(c["principal"]); err != nil {
			return nil, fmt.Errorf("checks[%d].principal: %v", i, err)
		}
		if k.Action, err = parseUID(c["action"]); err != nil {
			return nil, fmt.Errorf("checks[%d].action: %v", i, err)
		}
		if k.Resource, err = parseUID(c["resource"]); err != nil {
			return nil, fmt.Errorf("checks[%d].resource: %v", i, err)
		}
		k.Context, _ = c["context"].(map[string]any)
		if re, ok := c["entities"].([]any); ok {
			if k.Entities, err = parseEntities(re); err != nil {
				return nil, fmt.Errorf("checks[%d].%v", i, err)
			}
		}
		d, _ := c["decision"].(string)
		k.Decision = strings.ToLower(d)
		if rs, ok := c["reason"].([]any); ok {
			k.Reason = []string{}
			for _, r := range rs {
				s, _ := r.(string)
				k.Reason = append(k.Reason, s)
			}
		}
		sc.Checks = append(sc.Checks, k)
	}
	if len(sc.Checks) == 0 {
		return nil, fmt.Errorf("%s/checks.json: no checks", dir)
	}
	return sc, nil
}

// view is the entity set one check sees: stored entities, replaced by request ones.
func (sc *scenario) view(c *check) map[string]entity {
	v := make(map[string]entity, len(sc.Stored)+len(c.Entities))
	for k, e := range sc.Stored {
		v[k] = e
	}
	for _, e := range c.Entities {
		v[e.UID.key()] = e
	}
	return v
}

// ancestors is the transitive closure of parents (Cedar's `in`), sorted.
func ancestors(view map[string]entity, key string) []string {
	seen := map[string]bool{}
	stack := []string{key}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range view[k].Parents {
			if pk := p.key(); !seen[pk] {
				seen[pk] = true
				stack = append(stack, pk)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// flatten turns Cedar JSON values into plain JSON, an entity reference into refOf(uid).
func flatten(v any, refOf func(uid) string) any {
	switch t := v.(type) {
	case map[string]any:
		if _, ok := t["__entity"]; ok {
			if u, err := parseUID(t); err == nil {
				return refOf(u)
			}
		}
		out := map[string]any{}
		for k, x := range t {
			out[k] = flatten(x, refOf)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = flatten(x, refOf)
		}
		return out
	}
	return v
}
