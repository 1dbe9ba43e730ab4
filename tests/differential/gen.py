#!/usr/bin/env python3
"""gen.py - random Cedar policy sets, entities and requests for differential testing.

Usage: gen.py --out DIR --seed SEED --requests N [--per-case R] [--case K]

Writes DIR/gen/policies_K.cedar, DIR/gen/K.entities.json and DIR/gen/K.json (the case layout
pdp-conformance reads; paths inside a case are relative to DIR).  The requests in K.json carry
no answer yet ("decision": null); oracle.py asks the Cedar CLI and fills in decision, reason
and errors.  Each case also lists its policy ids under "policyIds" (the runner ignores it).

Everything derives from the seed: case K uses random.Random("SEED:K"), so `--case K`
regenerates exactly one case of a run.  The generator is typed (it mostly builds well-typed
expressions over attributes whose types are mostly consistent) but mixes types, reads missing
attributes and tags, overflows longs and feeds invalid extension literals often enough that
evaluation errors, which are part of the answer, are common.  Python 3 standard library only.
"""
import argparse
import json
import os
import random

LONG_EDGE = [0, 1, -1, 2, 7, 100, -100, 3037000499, 3037000500, 4611686018427387904,
             9223372036854775807, -9223372036854775807, -9223372036854775808, 9223372036854775806]
TYPES = ["User", "Group", "Doc", "Folder", "NS::Item"]
ACTION_IDS = ["read", "write", "delete", "admin", "all", "view photo"]
ID_POOL = ["alice", "bob", "carol", "dave", "", "a b", "é☃", "quote\"q", "back\\slash", "tab\tx", "0", "*"]
# attribute name -> its usual type; an attribute of another type now and then.
ATTRS = {
    "name": "string", "age": "long", "flag": "bool", "labels": "set_string", "nums": "set_long",
    "owner": "entity", "info": "record", "addr": "ip", "score": "decimal", "when": "datetime",
    "dur": "duration", "friends": "set_entity", "a b": "string", "big": "long", "": "long",
}
INFO_KEYS = {"level": "long", "role": "string", "inner": "inner", "x y": "long"}
INNER_KEYS = {"deep": "bool", "s": "string"}
TAG_KEYS = ["t1", "t2", "color", "a b"]
IDENT_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789")
RESERVED = {"true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar", "principal",
            "action", "resource", "context"}
STR_POOL = ["", "a", "abc", "alice", "Hello, World", "a*b", "*", "ab*", "x\ny", "tab\t", "q\"q", "back\\",
            "é", "☃", "😀", "admin", "12", "\u0000z", "AbC", "a b"]
IPS_OK = ["192.168.0.1", "10.0.0.0/8", "127.0.0.1", "127.0.0.0/8", "0.0.0.0", "255.255.255.255",
          "224.0.0.1", "::1", "::", "ff02::1", "fe80::/10", "2001:db8::/32", "2001:db8::1",
          "192.168.1.0/24", "10.1.2.3/32", "1.2.3.4/0", "::/0", "ff00::/8"]
IPS_BAD = ["::ffff:1.2.3.4", "1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.4/33", "::1/129", "abc", "", "1.2.3.4 ", "::g"]
DEC_OK = ["0.0", "1.0", "-1.5", "12.3456", "922337203685477.5807", "-922337203685477.5808", "0.1", "3.14"]
DEC_BAD = ["1", "1.23456", "abc", ".5", "1.", "922337203685477.5808", "", "--1.0"]
DT_OK = ["2024-01-01", "1970-01-01", "2024-02-29T12:00:00Z", "2024-10-28T10:12:13.456Z",
         "2024-10-28T10:12:13+0130", "2024-10-28T10:12:13.456-0700", "1969-12-31T23:59:59Z",
         "2000-06-15T00:00:00.001Z"]
DT_BAD = ["2024-13-01", "2024-1-1", "2024-01-01T25:00:00Z", "2024-01-01T00:00:00", "x", "",
          "2023-02-29", "2024-01-01T00:00:00+2400"]
DUR_OK = ["0ms", "1d", "2h", "3m", "4s", "5ms", "1d2h3m4s5ms", "-1h", "-2d12h", "36h", "100000d", "1h30m", "106751991167d",
          "-106751991167d", "9223372036854775807ms"]
DUR_BAD = ["1", "1x", "h", "", "1h1d", "--1h", "1.5h", "9223372036854775807d"]


def cedar_str(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\0":
            out.append("\\0")
        elif o < 0x20 or o == 0x7f:
            out.append("\\u{%x}" % o)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def is_ident(s):
    return s != "" and set(s) <= IDENT_OK and not s[0].isdigit() and s not in RESERVED


def uid_text(t, i):
    return "%s::%s" % (t, cedar_str(i))


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.mix = rng.choice([0.04, 0.08, 0.15])  # chance a node gets a wrongly typed operand
        self.bad_data = False  # invalid extension values in request contexts

    def chance(self, p):
        return self.r.random() < p

    # ---------------------------------------------------------------- the universe
    def universe(self):
        r = self.r
        self.ents = []  # (type, id)
        for t in TYPES:
            ids = r.sample(ID_POOL, r.randint(1, 4))
            self.ents += [(t, i) for i in ids]
        self.actions = [("Action", a) for a in r.sample(ACTION_IDS, r.randint(2, len(ACTION_IDS)))]
        self.ghosts = [("User", "ghost"), ("Doc", "missing"), ("Group", "nobody")]

    def entity_json(self):
        r = self.r
        out = []
        order = self.ents[:]
        r.shuffle(order)  # parents are always later in `order`: the hierarchy is acyclic
        for k, (t, i) in enumerate(order):
            later = order[k + 1:]
            parents = [e for e in later if self.chance(0.25)][:3]
            if self.chance(0.05):
                parents.append(r.choice(self.ghosts))
            attrs = {}
            for a in r.sample(list(ATTRS), r.randint(0, len(ATTRS))):
                attrs[a] = self.json_value(self.attr_type(a), 2)
            e = {"uid": {"type": t, "id": i}, "attrs": attrs,
                 "parents": [{"type": pt, "id": pi} for pt, pi in parents]}
            if self.chance(0.5):
                e["tags"] = {k2: self.json_value(r.choice(["string", "long", "bool"]), 1)
                             for k2 in r.sample(TAG_KEYS, r.randint(0, 3))}
            out.append(e)
        acts = self.actions[:]
        r.shuffle(acts)
        for k, (t, i) in enumerate(acts):
            parents = [e for e in acts[k + 1:] if self.chance(0.3)]
            out.append({"uid": {"type": t, "id": i}, "attrs": {},
                        "parents": [{"type": pt, "id": pi} for pt, pi in parents]})
        return out

    def attr_type(self, a):
        if self.chance(0.1):
            return self.r.choice(["string", "long", "bool", "record", "set_long", "entity", "ip"])
        return ATTRS[a]

    def any_entity(self):
        if self.chance(0.05):
            return self.r.choice(self.ghosts)
        return self.r.choice(self.ents)

    def json_value(self, ty, depth):
        r = self.r
        if ty == "string":
            return r.choice(STR_POOL)
        if ty == "long":
            return r.choice(LONG_EDGE) if self.chance(0.3) else r.randint(-20, 20)
        if ty == "bool":
            return self.chance(0.5)
        if ty == "set_string":
            return [r.choice(STR_POOL) for _ in range(r.randint(0, 3))]
        if ty == "set_long":
            return [r.randint(-3, 3) for _ in range(r.randint(0, 4))]
        if ty == "set_entity":
            return [self.ent_json(self.any_entity()) for _ in range(r.randint(0, 3))]
        if ty == "entity":
            return self.ent_json(self.any_entity())
        if ty in ("record", "inner"):
            keys = INFO_KEYS if ty == "record" else INNER_KEYS
            rec = {}
            for k in r.sample(list(keys), r.randint(0, len(keys))):
                kt = keys[k]
                if depth <= 0 and kt == "inner":
                    continue
                rec[k] = self.json_value(kt, depth - 1)
            return rec
        ext = {"ip": IPS_OK, "decimal": DEC_OK, "datetime": DT_OK, "duration": DUR_OK}[ty]
        if self.bad_data and self.chance(0.05):  # Cedar rejects the request; pdpd must too
            ext = {"ip": IPS_BAD, "decimal": DEC_BAD, "datetime": DT_BAD, "duration": DUR_BAD}[ty]
        fn = "ip" if ty == "ip" else ty
        return {"__extn": {"fn": fn, "arg": r.choice(ext)}}

    @staticmethod
    def ent_json(e):
        return {"__entity": {"type": e[0], "id": e[1]}}

    # ---------------------------------------------------------------- expressions
    def lit(self, ty):
        r = self.r
        if ty == "bool":
            return r.choice(["true", "false"])
        if ty == "long":
            v = r.choice(LONG_EDGE) if self.chance(0.3) else r.randint(-10, 10)
            return str(v) if v >= 0 else ("(%d)" % v)
        if ty == "string":
            return cedar_str(r.choice(STR_POOL)) if not self.chance(0.1) else r.choice(
                ['"\\u{1F600}"', '"\\x41"', '"\\\'"', '"a\\u{0}b"', '"\\u{e9}"'])
        if ty == "entity":
            return uid_text(*self.any_entity())
        if ty.startswith("set"):
            el = {"set_string": "string", "set_long": "long", "set_entity": "entity"}.get(ty, "long")
            return "[" + ", ".join(self.expr(el, 0) for _ in range(r.randint(0, 3))) + "]"
        if ty in ("record", "inner"):
            keys = INFO_KEYS if ty == "record" else INNER_KEYS
            parts = []
            for k in r.sample(list(keys), r.randint(0, len(keys))):
                key = k if is_ident(k) and self.chance(0.6) else cedar_str(k)
                parts.append("%s: %s" % (key, self.expr(keys[k], 0)))
            return "{" + ", ".join(parts) + "}"
        pools = {"ip": (IPS_OK, IPS_BAD), "decimal": (DEC_OK, DEC_BAD), "datetime": (DT_OK, DT_BAD),
                 "duration": (DUR_OK, DUR_BAD)}[ty]
        s = r.choice(pools[1]) if self.chance(0.06) else r.choice(pools[0])
        return "%s(%s)" % (ty, cedar_str(s))

    def base(self):
        r = self.r
        c = r.random()
        if c < 0.3:
            return "principal"
        if c < 0.55:
            return "resource"
        if c < 0.85:
            return "context"
        if c < 0.9:
            return "action"
        if c < 0.95:
            return "(principal.owner)"
        return uid_text(*self.any_entity())

    def access(self, name):
        b = self.base()
        if is_ident(name) and self.chance(0.8):
            return "%s.%s" % (b, name)
        return "%s[%s]" % (b, cedar_str(name))

    def attr_of(self, ty):
        names = [a for a, t in ATTRS.items() if t == ty]
        if ty in INFO_KEYS.values() and ty != "inner" and self.chance(0.35):
            k = self.r.choice([k for k, t in INFO_KEYS.items() if t == ty])
            return "%s.info%s" % (self.base(), "." + k if is_ident(k) else "[%s]" % cedar_str(k))
        if ty in INNER_KEYS.values() and self.chance(0.25):
            k = self.r.choice([k for k, t in INNER_KEYS.items() if t == ty])
            return "%s.info.inner.%s" % (self.base(), k)
        if not names:
            return None
        return self.access(self.r.choice(names))

    def wrong(self, ty):
        others = ["bool", "long", "string", "entity", "set_long", "record", "ip", "decimal", "datetime", "duration"]
        return self.r.choice([t for t in others if t != ty])

    def expr(self, ty, depth):
        """An expression of type `ty` (mostly; sometimes deliberately of another type)."""
        r = self.r
        if self.chance(self.mix):
            ty = self.wrong(ty)
        if depth <= 0 or self.chance(0.25):
            if ty != "bool" and self.chance(0.5):
                a = self.attr_of(ty)
                if a:
                    return a
            if ty == "entity" and self.chance(0.5):
                return r.choice(["principal", "resource", "action"])
            if ty == "record" and self.chance(0.4):
                return "context"
            if ty == "bool" and self.chance(0.4):
                return self.attr_of("bool") or self.lit("bool")
            return self.lit(ty)
        d = depth - 1
        if self.chance(0.07):
            return "(if %s then %s else %s)" % (self.expr("bool", d), self.expr(ty, d), self.expr(ty, d))
        if ty == "bool":
            return self.bool_expr(d)
        if ty == "long":
            return self.long_expr(d)
        if ty == "string":
            if self.chance(0.5):
                return "(%s.getTag(%s))" % (self.expr("entity", d), cedar_str(r.choice(TAG_KEYS)))
            return self.lit("string") if self.chance(0.5) else (self.attr_of("string") or self.lit("string"))
        if ty == "record" and self.chance(0.3):
            return "(%s.info)" % self.base()
        if ty == "datetime" and self.chance(0.5):
            return r.choice(["(%s.offset(%s))" % (self.expr("datetime", d), self.expr("duration", d)),
                             "(%s.toDate())" % self.expr("datetime", d)])
        if ty == "duration" and self.chance(0.5):
            return r.choice(["(%s.durationSince(%s))" % (self.expr("datetime", d), self.expr("datetime", d)),
                             "(%s.toTime())" % self.expr("datetime", d)])
        if self.chance(0.5):
            return self.attr_of(ty) or self.lit(ty)
        return self.lit(ty)

    def long_expr(self, d):
        r = self.r
        c = r.random()
        if c < 0.45:
            op = r.choice(["+", "-", "*"])
            return "(%s %s %s)" % (self.expr("long", d), op, self.expr("long", d))
        if c < 0.55:
            return "(-%s)" % self.expr("long", d)
        if c < 0.7:
            m = r.choice(["toDays", "toHours", "toMinutes", "toSeconds", "toMilliseconds"])
            return "(%s.%s())" % (self.expr("duration", d), m)
        if c < 0.8:
            return "(%s.getTag(%s))" % (self.expr("entity", d), cedar_str(r.choice(TAG_KEYS)))
        return self.attr_of("long") if self.chance(0.6) else self.lit("long")

    def pattern(self):
        r = self.r
        parts = []
        for _ in range(r.randint(1, 4)):
            c = r.random()
            if c < 0.35:
                parts.append("*")
            elif c < 0.45:
                parts.append("\\*")
            else:
                s = r.choice(["a", "b", "abc", "alice", "Hello", "x\ny", "é", "admin", "1", " ", "q\"q", "\\"])
                parts.append(cedar_str(s)[1:-1])
        return '"' + "".join(parts) + '"'

    def bool_expr(self, d):
        r = self.r
        k = r.randint(0, 19)
        anyty = r.choice(["long", "string", "bool", "entity", "set_long", "record", "ip", "decimal",
                          "datetime", "duration"])
        if k == 0:
            return "(%s == %s)" % (self.expr(anyty, d), self.expr(anyty, d))
        if k == 1:
            return "(%s != %s)" % (self.expr(anyty, d), self.expr(anyty, d))
        if k in (2, 3):
            t = r.choice(["long", "long", "long", "datetime", "duration"])
            return "(%s %s %s)" % (self.expr(t, d), r.choice(["<", "<=", ">", ">="]), self.expr(t, d))
        if k == 4:
            return "(%s %s %s)" % (self.expr("bool", d), r.choice(["&&", "||"]), self.expr("bool", d))
        if k == 5:
            return "(!%s)" % self.expr("bool", d)
        if k == 6:
            rhs = self.expr("entity", d) if self.chance(0.6) else self.expr("set_entity", d)
            return "(%s in %s)" % (self.expr("entity", d), rhs)
        if k == 7:
            return self.has_expr(d)
        if k == 8:
            return "(%s like %s)" % (self.expr("string", d), self.pattern())
        if k == 9:
            t = r.choice(TYPES + ["Action"])
            if self.chance(0.4):
                return "(%s is %s in %s)" % (self.expr("entity", d), t, self.expr("entity", d))
            return "(%s is %s)" % (self.expr("entity", d), t)
        if k == 10:
            st, el = r.choice([("set_long", "long"), ("set_string", "string"), ("set_entity", "entity")])
            m = r.choice(["contains", "containsAll", "containsAny", "isEmpty"])
            if m == "contains":
                return "(%s.contains(%s))" % (self.expr(st, d), self.expr(el, d))
            if m == "isEmpty":
                return "(%s.isEmpty())" % self.expr(st, d)
            return "(%s.%s(%s))" % (self.expr(st, d), m, self.expr(st, d))
        if k == 11:
            e = self.expr("entity", d)
            if self.chance(0.5):
                return "(%s.hasTag(%s))" % (e, self.expr("string", d) if self.chance(0.2) else cedar_str(r.choice(TAG_KEYS)))
            return "(%s.getTag(%s))" % (e, cedar_str(r.choice(TAG_KEYS)))
        if k == 12:
            m = r.choice(["isIpv4", "isIpv6", "isLoopback", "isMulticast", "isInRange"])
            if m == "isInRange":
                return "(%s.isInRange(%s))" % (self.expr("ip", d), self.expr("ip", d))
            return "(%s.%s())" % (self.expr("ip", d), m)
        if k == 13:
            m = r.choice(["lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual"])
            return "(%s.%s(%s))" % (self.expr("decimal", d), m, self.expr("decimal", d))
        if k == 14:
            return self.attr_of("bool") or "true"
        if k == 15:
            return "(%s.info.inner.deep)" % self.base()
        if k == 16:
            return "(%s == %s)" % (self.expr("record", d), self.expr("record", d))
        if k == 17:
            return "(%s.contains(%s))" % (self.expr("set_long", d), self.expr("long", d))
        if k == 18:
            return "(%s in %s)" % (r.choice(["principal", "resource", "action"]), uid_text(*self.any_entity()))
        return self.lit("bool")

    def has_expr(self, d):
        r = self.r
        b = self.base() if self.chance(0.85) else self.expr(r.choice(["record", "entity", "long"]), d)
        c = r.random()
        if c < 0.5:
            a = r.choice(list(ATTRS) + ["nope"])
            return "(%s has %s)" % (b, a if is_ident(a) else cedar_str(a))
        if c < 0.8:
            path = r.choice(["info.level", "info.inner.deep", "info.inner", "info.nope.x", "owner.name", "info.role"])
            return "(%s has %s)" % (b, path)
        return "(%s.info has %s)" % (b, r.choice(["level", '"x y"', "inner", "missing"]))

    # ---------------------------------------------------------------- policies
    def scope_var(self, var):
        r = self.r
        c = r.random()
        if c < 0.5:
            return var
        e = uid_text(*self.any_entity())
        if c < 0.55:
            return "%s == %s" % (var, e)
        if c < 0.75:
            return "%s in %s" % (var, e)
        t = r.choice(TYPES)
        if c < 0.88:
            return "%s is %s" % (var, t)
        return "%s is %s in %s" % (var, t, e)

    def scope_action(self):
        r = self.r
        c = r.random()
        acts = self.actions + [("Action", "ghost")]
        if c < 0.55:
            return "action"
        if c < 0.65:
            return "action == %s" % uid_text(*r.choice(acts))
        if c < 0.8:
            return "action in %s" % uid_text(*r.choice(acts))
        return "action in [%s]" % ", ".join(uid_text(*a) for a in r.sample(acts, r.randint(0, 3)))

    def policies(self):
        r = self.r
        n = r.randint(1, 8)
        texts, ids = [], []
        for k in range(n):
            annos = []
            pid = "policy%d" % k
            if self.chance(0.2):
                pid = "id-%d%s" % (k, r.choice(["", "x", " y"]))
                annos.append("@id(%s)" % cedar_str(pid))
            if self.chance(0.1):
                annos.append("@advice(%s)" % cedar_str(r.choice(STR_POOL)))
            if self.chance(0.05):
                annos.append("@bare // an annotation without a value, and a comment")
            eff = "forbid" if self.chance(0.25) else "permit"
            conds = []
            for _ in range(r.choice([0, 0, 1, 1, 1, 2, 3])):
                conds.append("%s { %s }" % ("unless" if self.chance(0.3) else "when",
                                           self.expr("bool", r.randint(1, 4))))
            texts.append("%s%s(\n  %s,\n  %s,\n  %s\n)%s;\n" % (
                "".join(a + "\n" for a in annos), eff, self.scope_var("principal"), self.scope_action(),
                self.scope_var("resource"), "".join("\n" + c for c in conds)))
            ids.append(pid)
        return "\n".join(texts), ids

    def request(self):
        r = self.r
        p = self.any_entity() if self.chance(0.9) else r.choice(self.ghosts)
        a = r.choice(self.actions) if self.chance(0.95) else ("Action", "ghost")
        res = self.any_entity()
        ctx = {}
        self.bad_data = self.chance(0.1)
        for name in r.sample(list(ATTRS), r.randint(0, len(ATTRS))):
            ctx[name] = self.json_value(self.attr_type(name), 2)
        self.bad_data = False
        return {"principal": {"type": p[0], "id": p[1]}, "action": {"type": a[0], "id": a[1]},
                "resource": {"type": res[0], "id": res[1]}, "context": ctx}


def gen_case(out, seed, k, nreq):
    g = Gen(random.Random("%s:%d" % (seed, k)))
    g.universe()
    text, ids = g.policies()
    ents = g.entity_json()
    reqs = []
    for i in range(nreq):
        q = g.request()
        q = dict({"description": "seed %s case %d request %d" % (seed, k, i)}, **q)
        q.update({"decision": None, "reason": [], "errors": []})
        reqs.append(q)
    d = os.path.join(out, "gen")
    with open(os.path.join(d, "policies_%d.cedar" % k), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(d, "%d.entities.json" % k), "w", encoding="utf-8") as f:
        json.dump(ents, f, ensure_ascii=False, indent=1)
    case = {"policies": "gen/policies_%d.cedar" % k, "entities": "gen/%d.entities.json" % k,
            "schema": None, "shouldValidate": False, "seed": str(seed), "case": k, "policyIds": ids,
            "requests": reqs}
    with open(os.path.join(d, "%d.json" % k), "w", encoding="utf-8") as f:
        json.dump(case, f, ensure_ascii=False, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--per-case", type=int, default=50)
    ap.add_argument("--case", type=int, default=None, help="regenerate only this case")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "gen"), exist_ok=True)
    ncases = max(1, (a.requests + a.per_case - 1) // a.per_case)
    cases = [a.case] if a.case is not None else range(ncases)
    for k in cases:
        nreq = a.per_case if a.case is not None else min(a.per_case, a.requests - k * a.per_case)
        gen_case(a.out, a.seed, k, max(1, nreq))
    print("gen: %d case(s), %d request(s), seed %s" % (len(cases), sum(
        a.per_case if a.case is not None else max(1, min(a.per_case, a.requests - k * a.per_case)) for k in cases),
        a.seed))


if __name__ == "__main__":
    main()
