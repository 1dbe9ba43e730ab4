#!/usr/bin/env python3
"""gen.py - generate pdp-bench scenarios reproducibly from a seed (Python 3 stdlib only).

    python3 bench/scenarios/gen.py [--seed N] [--out DIR] [--policies N] [--checks N]
                                   [--grants N] [--lists N] [--changed N] [NAME...]

Writes each scenario as a bundle folder DIR/NAME/ (policies/*.cedar, entities.json,
checks.json; rbac-1m also grants.json, permissions/ and list-allowed.json), the layout pdpd --source, `pdpctl test` and `pdp-bench --scenario` read.
The same seed gives byte-identical files.  DIR defaults to bench/scenarios/gen/ (git-ignored:
generated files are never committed).  Scenarios:

abac-10k   10,000 policies with conditions over request entities, stored entities and the
           context.  Every expected decision (and reason) is known by construction, not by
           asking pdpd: policy i is the only generated policy a request aimed at slot i can
           reach through the index (its scope names slot i's document, group or user), so
           the generator evaluates that one condition, plus the two global policies, itself.

           kinds by i % 10 (p<i> is the policy id; "k" below is slot i's data):
           0-5  permit (principal, action == Action::"<a>", resource == Doc::"d<i>")
                when { principal.dept == resource.dept && principal.level >= <t> && context.mfa };
           6-7  permit (principal in Group::"g<i>", action in [Action::"read", Action::"write"],
                        resource is Doc)
                when { resource.level <= <l> && context.hour >= <h0> && context.hour < <h1> };
           8    forbid (principal, action, resource == Doc::"d<i>") when { context.risk > <r> };
                (d<i> is public, so the global public-read permit applies to reads of it)
           9    permit (principal == User::"owner<i>", action, resource is Doc)
                when { resource has owner && resource.owner == principal && context.time < <m> };
           global: forbid ... when { context has blocked && context.blocked };
                   permit (principal, action == Action::"read", resource is Doc)
                   when { resource has public && resource.public };

           Principals are request entities (attributes and parent groups sent with each
           check); kind 6-7 requests use neutral documents n<k> no policy names; kind 9
           requests bring their document as a request entity with an owner attribute.
           About half the checks are built so their policy's condition holds.

batch-50   no files of its own: the abac-10k bundle sent 50 checks per BatchCheck request
           (`pdp-bench --batch 50`; see bench/run.sh).

rbac-1m    grants, permission definitions and a role hierarchy (docs/model.md), sized by
           --grants (default 1,000,000):
           - entities.json: 1,000 roles in 3 levels (r0-r9 top; r10-r99 each in a top role;
             r100-r999 each in a mid role) and 1,000 clients (c<i>: a `tenant` attribute
             t0..t49 or none (host); half in one role): 2,000 entities;
           - 100,000 users (u<i>: 80% with a tenant, 20% host users; each in 1-3 roles,
             mostly leaves) are not stored: every request sends its user as a request entity
             (tenant and roles, as a token's claims would); DIR/rbac-1m.entities-with-users.json
             (beside the bundle) is entities.json plus the 100,000 users, for measuring what
             stored users cost (the answers are the same: request entities take precedence);
           - permissions/svc0.json .. svc9.json: 200 definitions svc<s>.p00 .. p19 (group
             svc<s>; p10-p19 have parent p00-p09); 4 disabled, 10 host-only, 10 tenant-only,
             20 with allowed_providers [R], 10 with [C, U];
           - grants.json: 30% role grants (30% host, else a random tenant), 65% user grants
             (90% in the user's own tenant), 5% client grants (the client's tenant); 3%
             PROHIBIT; natural keys unique; one grant per line in pdpctl's canonical form;
           - policies/rbac.cedar: `global-blocked` (forbid when context.blocked) and
             `ops-read` (permit principal in Role::"r1", action in Action::"svc1");
           - checks.json (--checks, default 2,000): 25% aimed at a role grant (a user holding
             the role through the hierarchy, in the grant's tenant), 20% at a user grant, 15%
             at a client grant, the rest random users, clients, and users sent with other
             roles and tenant than their own; 3% blocked;
           - list-allowed.json (--lists, default 500): ListAllowed requests (prefix "",
             "svc<s>." or "svc<s>.p1") with the expected allowed actions, for `pdp-bench
             --list-allowed`: {"lists": [{"name", "principal", "resource", "context",
             "entities", "prefix", "allowed": [action ids in name order]}]};
           - beside the bundle, DIR/rbac-1m.grants-changed.json: grants.json with --changed
             (default 10,000) effects flipped, spread evenly over the file and chosen among
             the grants no check or list looks at, so both files give the same expected
             answers (bench/grants/daemon.sh swaps them under load).
           Expected decisions and reasons come from the generator's own implementation of
           the decision order (definition disabled / tenancy; forbids and PROHIBITs; permits
           and GRANTs; default deny), not from pdpd; `pdpctl test` agrees with them.
"""
import argparse
import json
import os
import random
import sys

ACTIONS = ["read", "write", "share", "delete", "comment"]
N_DEPTS = 40
N_NEUTRAL = 1000


def kind_of(i):
    k = i % 10
    if k <= 5:
        return "A"
    if k <= 7:
        return "B"
    if k == 8:
        return "C"
    return "D"


def gen_abac(out, seed, n_policies, n_checks):
    rnd = random.Random(seed)
    n_gen = n_policies - 2  # two global policies
    pol = []  # per slot: parameters
    doc_attrs = {}  # stored Doc entities: id -> attrs
    for i in range(n_gen):
        k = kind_of(i)
        if k == "A":
            p = {"a": rnd.choice(ACTIONS), "t": rnd.randint(1, 9)}
            doc_attrs["d%d" % i] = {"dept": "dep%d" % rnd.randrange(N_DEPTS),
                                    "level": rnd.randint(0, 9), "public": False}
        elif k == "B":
            h0 = rnd.randint(0, 12)
            p = {"l": rnd.randint(0, 9), "h0": h0, "h1": h0 + rnd.randint(1, 11)}
        elif k == "C":
            p = {"r": rnd.randint(10, 90)}
            doc_attrs["d%d" % i] = {"dept": "dep%d" % rnd.randrange(N_DEPTS),
                                    "level": rnd.randint(0, 9), "public": True}
        else:
            p = {"m": rnd.randint(100, 2000)}
        p["kind"] = k
        pol.append(p)
    for n in range(N_NEUTRAL):
        doc_attrs["n%d" % n] = {"dept": "dep%d" % rnd.randrange(N_DEPTS),
                                "level": rnd.randint(0, 9), "public": False}

    # Policies, split over 10 files so no file is huge.
    pdir = os.path.join(out, "policies")
    os.makedirs(pdir, exist_ok=True)
    files = [[] for _ in range(10)]
    files[0].append(
        '@id("global-blocked")\nforbid (principal, action, resource)\n'
        'when { context has blocked && context.blocked };\n')
    files[0].append(
        '@id("global-public-read")\npermit (principal, action == Action::"read", resource is Doc)\n'
        'when { resource has public && resource.public };\n')
    for i, p in enumerate(pol):
        k = p["kind"]
        if k == "A":
            s = ('@id("p%d")\npermit (principal, action == Action::"%s", resource == Doc::"d%d")\n'
                 'when { principal.dept == resource.dept && principal.level >= %d && context.mfa };\n'
                 % (i, p["a"], i, p["t"]))
        elif k == "B":
            s = ('@id("p%d")\npermit (principal in Group::"g%d", action in [Action::"read", '
                 'Action::"write"], resource is Doc)\n'
                 'when { resource.level <= %d && context.hour >= %d && context.hour < %d };\n'
                 % (i, i, p["l"], p["h0"], p["h1"]))
        elif k == "C":
            s = ('@id("p%d")\nforbid (principal, action, resource == Doc::"d%d")\n'
                 'when { context.risk > %d };\n' % (i, i, p["r"]))
        else:
            s = ('@id("p%d")\npermit (principal == User::"owner%d", action, resource is Doc)\n'
                 'when { resource has owner && resource.owner == principal && context.time < %d };\n'
                 % (i, i, p["m"]))
        files[i % 10].append(s)
    for f, body in enumerate(files):
        with open(os.path.join(pdir, "gen-%02d.cedar" % f), "w") as fh:
            fh.write("// generated by bench/scenarios/gen.py --seed %d; do not edit\n\n" % seed)
            fh.write("\n".join(body))

    ents = []
    for did in sorted(doc_attrs, key=lambda s: (s[0], int(s[1:]))):
        ents.append({"uid": {"type": "Doc", "id": did}, "attrs": doc_attrs[did], "parents": []})
    for i, p in enumerate(pol):
        if p["kind"] == "B":
            ents.append({"uid": {"type": "Group", "id": "g%d" % i}, "attrs": {}, "parents": []})
    with open(os.path.join(out, "entities.json"), "w") as fh:
        json.dump(ents, fh, separators=(",", ":"))
        fh.write("\n")

    checks = []
    for c in range(n_checks):
        i = rnd.randrange(n_gen)
        p = pol[i]
        k = p["kind"]
        want = rnd.random() < 0.5  # should the policy's condition hold?
        ctx = {"mfa": True, "hour": rnd.randint(0, 23), "risk": rnd.randint(0, 100),
               "time": rnd.randint(0, 2100)}
        blocked = rnd.random() < 0.05
        if blocked or rnd.random() < 0.3:
            ctx["blocked"] = blocked
        uid = "u%d" % c
        user = {"dept": "dep%d" % rnd.randrange(N_DEPTS), "level": rnd.randint(0, 9)}
        parents = []
        req_ents = []
        reason = []  # satisfied permits / forbids, decided below
        permit_holds = forbid_holds = False
        permit_ids, forbid_ids = [], []
        if k == "A":
            d = doc_attrs["d%d" % i]
            action = p["a"]
            resource = "d%d" % i
            if want:
                user["dept"] = d["dept"]
                user["level"] = rnd.randint(p["t"], 9)
            else:
                # break exactly one of the three conjuncts
                which = rnd.randrange(3)
                if which == 0:
                    user["dept"] = "dep%d" % ((int(d["dept"][3:]) + 1) % N_DEPTS)
                    user["level"] = rnd.randint(p["t"], 9)
                elif which == 1:
                    user["dept"] = d["dept"]
                    user["level"] = rnd.randint(0, p["t"] - 1)
                else:
                    user["dept"] = d["dept"]
                    user["level"] = rnd.randint(p["t"], 9)
                    ctx["mfa"] = False
            holds = user["dept"] == d["dept"] and user["level"] >= p["t"] and ctx["mfa"]
            if holds:
                permit_ids.append("p%d" % i)
            if action == "read" and d["public"]:
                permit_ids.append("global-public-read")
        elif k == "B":
            action = rnd.choice(["read", "write"])
            parents = [{"type": "Group", "id": "g%d" % i}]
            candidates = [n for n in range(N_NEUTRAL)
                          if (doc_attrs["n%d" % n]["level"] <= p["l"]) == want]
            if not candidates:
                candidates = list(range(N_NEUTRAL))
            resource = "n%d" % rnd.choice(candidates)
            if want:
                ctx["hour"] = rnd.randrange(p["h0"], p["h1"])
            d = doc_attrs[resource]
            holds = d["level"] <= p["l"] and p["h0"] <= ctx["hour"] < p["h1"]
            if holds:
                permit_ids.append("p%d" % i)
        elif k == "C":
            action = "read" if rnd.random() < 0.8 else rnd.choice(ACTIONS)
            resource = "d%d" % i
            ctx["risk"] = rnd.randint(p["r"] + 1, 100) if want else rnd.randint(0, p["r"])
            if ctx["risk"] > p["r"]:
                forbid_ids.append("p%d" % i)
            if action == "read":
                permit_ids.append("global-public-read")
        else:
            action = rnd.choice(ACTIONS)
            uid = "owner%d" % i
            resource = "tmp%d" % c
            owner = uid if (want or rnd.random() < 0.5) else "someone-else"
            ctx["time"] = rnd.randint(0, p["m"] - 1) if want else rnd.randint(0, 2100)
            req_ents.append({"uid": {"type": "Doc", "id": resource},
                             "attrs": {"owner": {"__entity": {"type": "User", "id": owner}},
                                       "level": rnd.randint(0, 9)},
                             "parents": []})
            if owner == uid and ctx["time"] < p["m"]:
                permit_ids.append("p%d" % i)
        if ctx.get("blocked"):
            forbid_ids.append("global-blocked")
        req_ents.insert(0, {"uid": {"type": "User", "id": uid}, "attrs": user, "parents": parents})
        if forbid_ids:
            decision, reason = "deny", sorted(forbid_ids)
        elif permit_ids:
            decision, reason = "allow", sorted(permit_ids)
        else:
            decision, reason = "deny", []
        checks.append({
            "name": "slot %d kind %s" % (i, k),
            "principal": {"type": "User", "id": uid},
            "action": {"type": "Action", "id": action},
            "resource": {"type": "Doc", "id": resource},
            "context": ctx,
            "entities": req_ents,
            "decision": decision,
            "reason": reason,
        })
    with open(os.path.join(out, "checks.json"), "w") as fh:
        json.dump({"checks": checks}, fh, indent=1)
        fh.write("\n")
    allows = sum(1 for c in checks if c["decision"] == "allow")
    return "%d policies, %d entities, %d checks (%d allow, %d deny)" % (
        n_gen + 2, len(ents), len(checks), allows, len(checks) - allows)


# ---- rbac-1m: grants, permission definitions, a role hierarchy ----------------------------

N_SERVICES = 10
DEFS_PER_SERVICE = 20
N_TOP, N_MID, N_LEAF = 10, 90, 900  # roles r0..r9, r10..r99, r100..r999
RBAC_PROVIDERS = "RUC"


class Rbac:
    """The rbac-1m world and the decision model of docs/model.md, for expected answers."""

    def __init__(self, rnd, n_users, n_clients, n_tenants, n_grants):
        self.rnd = rnd
        self.tenants = ["t%d" % i for i in range(n_tenants)]
        self.tenant_idx = {"": 0}
        for i, t in enumerate(self.tenants):
            self.tenant_idx[t] = i + 1
        # roles: level 0 (top), 1 (mid: parent a top role), 2 (leaf: parent a mid role)
        n_roles = N_TOP + N_MID + N_LEAF
        self.role_parent = [None] * n_roles
        for r in range(N_TOP, N_TOP + N_MID):
            self.role_parent[r] = rnd.randrange(N_TOP)
        for r in range(N_TOP + N_MID, n_roles):
            self.role_parent[r] = N_TOP + rnd.randrange(N_MID)
        self.n_roles = n_roles
        # users: 80% in a tenant, 20% host users; 1-3 roles, mostly leaves
        self.user_tenant, self.user_roles = [], []
        for _ in range(n_users):
            self.user_tenant.append("" if rnd.random() < 0.2 else rnd.choice(self.tenants))
            roles = set()
            for _ in range(rnd.randint(1, 3)):
                if rnd.random() < 0.85:
                    roles.add(N_TOP + N_MID + rnd.randrange(N_LEAF))
                else:
                    roles.add(N_TOP + rnd.randrange(N_MID))
            self.user_roles.append(sorted(roles))
        # clients (services calling on their own behalf): half host, 0-1 role
        self.client_tenant, self.client_roles = [], []
        for _ in range(n_clients):
            self.client_tenant.append("" if rnd.random() < 0.5 else rnd.choice(self.tenants))
            self.client_roles.append([N_TOP + N_MID + rnd.randrange(N_LEAF)]
                                     if rnd.random() < 0.5 else [])
        # permission definitions: svc<s>.p<jj>, group svc<s>; p10..p19 have parent p00..p09
        self.defs = []
        names = ["svc%d.p%02d" % (s, j) for s in range(N_SERVICES) for j in range(DEFS_PER_SERVICE)]
        special = rnd.sample(range(len(names)), 4 + 10 + 10 + 20 + 10)
        disabled = set(special[:4])
        host = set(special[4:14])
        tenant = set(special[14:24])
        only_r = set(special[24:44])
        only_uc = set(special[44:54])
        for i, name in enumerate(names):
            svc, j = name.split(".")[0], int(name[-2:])
            self.defs.append({
                "name": name,
                "display_name": "Permission %d of %s" % (j, svc),
                "group": svc,
                "parent": "%s.p%02d" % (svc, j - 10) if j >= 10 else "",
                "disabled": i in disabled,
                "tenancy": "host" if i in host else "tenant" if i in tenant else "both",
                "allowed_providers": ["R"] if i in only_r else ["C", "U"] if i in only_uc else [],
                "properties": {"risk": rnd.choice(["low", "medium", "high"]),
                               "level": rnd.randint(0, 5)},
            })
        self.def_by_name = {d["name"]: d for d in self.defs}
        self.perm_idx = {d["name"]: i for i, d in enumerate(self.defs)}
        # grants: 30% role, 65% user, 5% client; 3% PROHIBIT; unique natural keys
        self.grants = {}  # encoded natural key -> "G" | "P"
        self.order = []   # encoded keys in file order
        n_r, n_c = n_grants * 30 // 100, n_grants * 5 // 100
        n_u = n_grants - n_r - n_c
        n_perm = len(self.defs)
        for prov, count in (("R", n_r), ("U", n_u), ("C", n_c)):
            made = 0
            while made < count:
                perm = rnd.randrange(n_perm)
                if prov == "R":
                    key = rnd.randrange(n_roles)
                    t = "" if rnd.random() < 0.3 else rnd.choice(self.tenants)
                elif prov == "U":
                    key = rnd.randrange(n_users)
                    t = self.user_tenant[key] if rnd.random() < 0.9 else rnd.choice(self.tenants)
                else:
                    key = rnd.randrange(n_clients)
                    t = self.client_tenant[key]
                k = self.enc(prov, key, perm, t)
                if k in self.grants:
                    continue
                self.grants[k] = "P" if rnd.random() < 0.03 else "G"
                self.order.append(k)
                made += 1
        # shuffle the file order so providers interleave (the store sorts them anyway)
        rnd.shuffle(self.order)

    def enc(self, prov, key, perm, tenant):
        """One int per natural key: (provider, key index, permission index, tenant index)."""
        return ((RBAC_PROVIDERS.index(prov) * 1000000 + key) * 1000 + perm) * 1000 + \
            self.tenant_idx[tenant]

    def dec(self, k):
        k, t = divmod(k, 1000)
        k, perm = divmod(k, 1000)
        p, key = divmod(k, 1000000)
        return RBAC_PROVIDERS[p], key, perm, ("" if t == 0 else self.tenants[t - 1])

    @staticmethod
    def key_name(prov, key):
        return ("r%d" if prov == "R" else "u%d" if prov == "U" else "c%d") % key

    def user_entity(self, u):
        """User u as Cedar entity JSON: its tenant attribute and its roles."""
        t = self.user_tenant[u]
        return {"uid": {"type": "User", "id": "u%d" % u}, "attrs": {"tenant": t} if t else {},
                "parents": [{"type": "Role", "id": "r%d" % r} for r in self.user_roles[u]]}

    def role_chain(self, roles):
        """The roles and every ancestor role, each once (a stable order)."""
        out, seen = [], set()
        for r in roles:
            while r is not None and r not in seen:
                seen.add(r)
                out.append(r)
                r = self.role_parent[r]
        return out

    def principal(self, ptype, idx, override=None):
        """(tenant, ancestor uids as (provider, key index)) of User/Client idx; override is a
        request entity's (tenant, roles) that replaces the stored one."""
        if override is not None:
            tenant, roles = override
        elif ptype == "User":
            tenant, roles = self.user_tenant[idx], self.user_roles[idx]
        else:
            tenant, roles = self.client_tenant[idx], self.client_roles[idx]
        anc = [("U" if ptype == "User" else "C", idx)] + [("R", r) for r in self.role_chain(roles)]
        return tenant, anc

    def decide(self, tenant, anc, action, blocked, protect=None):
        """(allow?, reasons) by docs/model.md's order.  protect collects every grant key the
        decision looked at (so the changed variant never touches them)."""
        d = self.def_by_name.get(action)
        if d is not None:
            if d["disabled"]:
                return False, ["definition:%s:disabled" % action]
            if (d["tenancy"] == "host" and tenant) or (d["tenancy"] == "tenant" and not tenant):
                return False, ["definition:%s:tenancy" % action]
        forbids = ["global-blocked"] if blocked else []
        permits = []
        if d is not None and d["group"] == "svc1" and ("R", 1) in anc:
            permits.append("ops-read")
        allowed = d["allowed_providers"] if d is not None and d["allowed_providers"] else "RUC"
        perm = self.perm_idx[action]
        prohibits, grants = [], []
        for prov, key in anc:
            k = self.enc(prov, key, perm, tenant)
            if protect is not None:
                protect.add(k)
            if prov not in allowed:
                continue
            e = self.grants.get(k)
            if e is None:
                continue
            gid = "grant:%s/%s/%s%s" % (prov, self.key_name(prov, key), action,
                                        "@" + tenant if tenant else "")
            (prohibits if e == "P" else grants).append(gid)
        if forbids or prohibits:
            return False, forbids + sorted(prohibits)
        if permits or grants:
            return True, permits + sorted(grants)
        return False, []

    def grant_line(self, k, effect):
        prov, key, perm, t = self.dec(k)
        return '{"provider":"%s","key":"%s","permission":"%s",%s"effect":"%s"}' % (
            prov, self.key_name(prov, key), self.defs[perm]["name"],
            '"tenant":"%s",' % t if t else "", "GRANT" if effect == "G" else "PROHIBIT")


def write_grants_file(path, world, flip=frozenset()):
    """grants.json, one grant per line (pdpctl's canonical form); keys in flip change effect."""
    with open(path, "w") as fh:
        fh.write("[\n")
        last = len(world.order) - 1
        for i, k in enumerate(world.order):
            e = world.grants[k]
            if k in flip:
                e = "G" if e == "P" else "P"
            fh.write(world.grant_line(k, e))
            fh.write(",\n" if i < last else "\n")
        fh.write("]\n")


def rbac_request(world, rnd, kind):
    """A principal for one request: (json uid, request entities, tenant, ancestors)."""
    n_users, n_clients = len(world.user_tenant), len(world.client_tenant)
    if kind == "client":
        c = rnd.randrange(n_clients)
        tenant, anc = world.principal("Client", c)
        return {"type": "Client", "id": "c%d" % c}, [], tenant, anc
    u = rnd.randrange(n_users)
    if kind == "override":
        # the user sent with a tenant and roles other than its own (request entities win)
        tenant = "" if rnd.random() < 0.2 else rnd.choice(world.tenants)
        roles = sorted({N_TOP + N_MID + rnd.randrange(N_LEAF) for _ in range(rnd.randint(1, 3))})
        t, anc = world.principal("User", u, (tenant, roles))
        ent = {"uid": {"type": "User", "id": "u%d" % u},
               "attrs": {"tenant": tenant} if tenant else {},
               "parents": [{"type": "Role", "id": "r%d" % r} for r in roles]}
        return {"type": "User", "id": "u%d" % u}, [ent], t, anc
    tenant, anc = world.principal("User", u)
    return {"type": "User", "id": "u%d" % u}, [world.user_entity(u)], tenant, anc


def gen_rbac(out, seed, n_grants, n_checks, n_lists, n_changed):
    rnd = random.Random(seed)
    n_users, n_clients, n_tenants = 100000, 1000, 50
    world = Rbac(rnd, n_users, n_clients, n_tenants, n_grants)
    os.makedirs(os.path.join(out, "policies"), exist_ok=True)
    os.makedirs(os.path.join(out, "permissions"), exist_ok=True)
    with open(os.path.join(out, "policies", "rbac.cedar"), "w") as fh:
        fh.write("// generated by bench/scenarios/gen.py --seed %d; do not edit\n\n" % seed)
        fh.write('@id("global-blocked")\nforbid (principal, action, resource)\n'
                 'when { context has blocked && context.blocked };\n\n')
        fh.write('@id("ops-read")\npermit (principal in Role::"r1", action in Action::"svc1", '
                 'resource);\n')
    for s in range(N_SERVICES):
        svc = "svc%d" % s
        defs = [d for d in world.defs if d["group"] == svc]
        with open(os.path.join(out, "permissions", svc + ".json"), "w") as fh:
            json.dump({"service": svc, "definitions": defs}, fh, indent=1, sort_keys=True)
            fh.write("\n")
    ents = []
    for r in range(world.n_roles):
        p = world.role_parent[r]
        ents.append({"uid": {"type": "Role", "id": "r%d" % r}, "attrs": {},
                     "parents": [] if p is None else [{"type": "Role", "id": "r%d" % p}]})
    for c in range(n_clients):
        t = world.client_tenant[c]
        ents.append({"uid": {"type": "Client", "id": "c%d" % c},
                     "attrs": {"tenant": t} if t else {},
                     "parents": [{"type": "Role", "id": "r%d" % r} for r in world.client_roles[c]]})
    def write_entities(path, items):
        with open(path, "w") as fh:
            fh.write("[\n")
            fh.write(",\n".join(json.dumps(e, separators=(",", ":")) for e in items))
            fh.write("\n]\n")
    write_entities(os.path.join(out, "entities.json"), ents)
    # The same with every user stored too (bench/grants/daemon.sh measures what 100,000
    # stored entities cost); the checks send their user anyway, so the answers are the same.
    write_entities(out.rstrip("/") + ".entities-with-users.json",
                   ents + [world.user_entity(u) for u in range(n_users)])

    # Checks: a quarter aimed at a role grant (a user who holds the role, in its tenant), a
    # fifth at a user grant, some at client grants, the rest random users or users sent as
    # request entities with other roles and tenant.  Expected answers from world.decide.
    protect = set()
    by_role = {}  # (role, tenant) -> users holding the role (directly or through the hierarchy)
    for u in range(n_users):
        for r in world.role_chain(world.user_roles[u]):
            by_role.setdefault((r, world.user_tenant[u]), []).append(u)
    grants_of = {"R": [], "U": [], "C": []}
    for k in world.order[:200000]:
        grants_of[world.dec(k)[0]].append(k)
    checks = []
    stats = {"allow": 0, "deny": 0}
    for c in range(n_checks):
        x = rnd.random()
        ents_c = []
        if x < 0.25:
            prov, role, perm, t = world.dec(rnd.choice(grants_of["R"]))
            users = by_role.get((role, t))
            u = rnd.choice(users) if users else rnd.randrange(n_users)
            tenant, anc = world.principal("User", u)
            uid, kind = {"type": "User", "id": "u%d" % u}, "role grant"
            ents_c = [world.user_entity(u)]
        elif x < 0.45:
            prov, u, perm, t = world.dec(rnd.choice(grants_of["U"]))
            tenant, anc = world.principal("User", u)
            uid, kind = {"type": "User", "id": "u%d" % u}, "user grant"
            ents_c = [world.user_entity(u)]
        elif x < 0.60:
            prov, cl, perm, t = world.dec(rnd.choice(grants_of["C"]))
            tenant, anc = world.principal("Client", cl)
            uid, kind = {"type": "Client", "id": "c%d" % cl}, "client grant"
        else:
            kind = "override" if x < 0.75 else "client" if x < 0.82 else "user"
            uid, ents_c, tenant, anc = rbac_request(world, rnd, kind)
            perm = rnd.randrange(len(world.defs))
            kind = "random " + kind
        action = world.defs[perm]["name"]
        blocked = rnd.random() < 0.03
        ctx = {"blocked": blocked} if blocked or rnd.random() < 0.2 else {}
        allow, reason = world.decide(tenant, anc, action, blocked, protect)
        stats["allow" if allow else "deny"] += 1
        chk = {"name": "%s %d" % (kind, c), "principal": uid,
               "action": {"type": "Action", "id": action},
               "resource": {"type": "Doc", "id": "d%d" % rnd.randrange(1000)}}
        if ctx:
            chk["context"] = ctx
        if ents_c:
            chk["entities"] = ents_c
        chk["decision"] = "allow" if allow else "deny"
        chk["reason"] = reason
        checks.append(chk)
    with open(os.path.join(out, "checks.json"), "w") as fh:
        json.dump({"checks": checks}, fh, indent=1)
        fh.write("\n")

    # ListAllowed requests: a service ("svc3."), half a service ("svc3.p1"), or every
    # definition (""), for stored users, clients and users sent as request entities.
    names = [d["name"] for d in world.defs]
    lists = []
    n_allowed = 0
    for i in range(n_lists):
        x = rnd.random()
        kind = "override" if x < 0.15 else "client" if x < 0.30 else "user"
        uid, ents_c, tenant, anc = rbac_request(world, rnd, kind)
        y = rnd.random()
        s = rnd.randrange(N_SERVICES)
        prefix = "" if y < 0.25 else ("svc%d.p1" % s) if y < 0.5 else ("svc%d." % s)
        allowed = [n for n in names if n.startswith(prefix)
                   and world.decide(tenant, anc, n, False, protect)[0]]
        n_allowed += len(allowed)
        item = {"name": "%s %d prefix %r" % (kind, i, prefix), "principal": uid,
                "resource": {"type": "Doc", "id": "d%d" % rnd.randrange(1000)}}
        if ents_c:
            item["entities"] = ents_c
        item["prefix"] = prefix
        item["allowed"] = allowed
        lists.append(item)
    with open(os.path.join(out, "list-allowed.json"), "w") as fh:
        json.dump({"lists": lists}, fh, indent=1)
        fh.write("\n")

    # grants.json, and beside the bundle the same file with n_changed effects flipped: grants
    # spread evenly over the file, none that any check or list above looks at, so both files
    # give the same expected answers (the reload benchmarks swap them under load).
    write_grants_file(os.path.join(out, "grants.json"), world)
    flip = set()
    stride = max(1, len(world.order) // max(1, n_changed))
    i = 0
    while len(flip) < n_changed and i < len(world.order):
        j = i
        while j < len(world.order) and world.order[j] in protect:
            j += 1
        if j < len(world.order):
            flip.add(world.order[j])
        i += stride
    write_grants_file(out.rstrip("/") + ".grants-changed.json", world, frozenset(flip))
    return ("%d grants (%d flipped in %s.grants-changed.json), %d definitions, %d stored entities "
            "(+%d users in .entities-with-users.json), "
            "%d checks (%d allow, %d deny), %d lists (%d actions allowed in all)" % (
                len(world.order), len(flip), os.path.basename(out.rstrip("/")), len(world.defs),
                len(ents), n_users, len(checks), stats["allow"], stats["deny"], len(lists),
                n_allowed))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="generate pdp-bench scenarios")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--out", default=os.path.join(here, "gen"))
    ap.add_argument("--policies", type=int, default=10000)
    ap.add_argument("--checks", type=int, default=2000)
    ap.add_argument("--grants", type=int, default=1000000, help="rbac-1m: grants")
    ap.add_argument("--lists", type=int, default=500, help="rbac-1m: ListAllowed requests")
    ap.add_argument("--changed", type=int, default=10000,
                    help="rbac-1m: grants flipped in rbac-1m.grants-changed.json")
    ap.add_argument("names", nargs="*", default=["abac-10k"])
    a = ap.parse_args()
    if a.policies < 12 or a.checks < 1:
        ap.error("--policies must be at least 12 and --checks at least 1")
    if a.grants < 1000 or a.lists < 1 or a.changed < 0 or a.changed > a.grants // 2:
        ap.error("--grants must be at least 1000, --lists at least 1, --changed 0..grants/2")
    for name in a.names:
        if name == "abac-10k":
            out = os.path.join(a.out, name)
            print("%s: %s" % (out, gen_abac(out, a.seed, a.policies, a.checks)))
        elif name == "rbac-1m":
            out = os.path.join(a.out, name)
            print("%s: %s" % (out, gen_rbac(out, a.seed, a.grants, a.checks, a.lists,
                                            a.changed)))
        elif name == "batch-50":
            print("batch-50: uses abac-10k with pdp-bench --batch 50 (nothing to generate)")
        else:
            print("gen.py: unknown scenario %r (known: abac-10k, batch-50, rbac-1m)" % name, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
