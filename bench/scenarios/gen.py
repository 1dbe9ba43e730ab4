#!/usr/bin/env python3
"""gen.py - generate pdp-bench scenarios reproducibly from a seed (Python 3 stdlib only).

    python3 bench/scenarios/gen.py [--seed N] [--out DIR] [--policies N] [--checks N] [NAME...]

Writes each scenario as a bundle folder DIR/NAME/ (policies/*.cedar, entities.json,
checks.json), the layout pdpd --source, `pdpctl test` and `pdp-bench --scenario` read.
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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="generate pdp-bench scenarios")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--out", default=os.path.join(here, "gen"))
    ap.add_argument("--policies", type=int, default=10000)
    ap.add_argument("--checks", type=int, default=2000)
    ap.add_argument("names", nargs="*", default=["abac-10k"])
    a = ap.parse_args()
    if a.policies < 12 or a.checks < 1:
        ap.error("--policies must be at least 12 and --checks at least 1")
    for name in a.names:
        if name == "abac-10k":
            out = os.path.join(a.out, name)
            print("%s: %s" % (out, gen_abac(out, a.seed, a.policies, a.checks)))
        elif name == "batch-50":
            print("batch-50: uses abac-10k with pdp-bench --batch 50 (nothing to generate)")
        else:
            print("gen.py: unknown scenario %r (known: abac-10k, batch-50)" % name, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
