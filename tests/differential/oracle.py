#!/usr/bin/env python3
"""oracle.py - fill in the answers of gen.py's cases by asking the reference Cedar CLI.

Usage: oracle.py --cedar CEDAR --dir DIR [--jobs N] [--check K]

For every DIR/gen/K.json, one `cedar run-tests` process evaluates all of the case's requests
(one CLI process per request would take hours for 100,000 requests).  run-tests only reports
differences from an expectation, so each request is posed twice, once expecting allow and once
deny, each expecting every policy id as a reason and an impossible number of errors: the test
whose decision matches reports "missing reason(s): ..." (the policies that are NOT reasons) and
"expected 1000000 error(s), but got N runtime error(s): error while evaluating policy `ID`: ..."
(the erroring policies).  The answers are written back into K.json as decision, reason and
errors.  A case whose policies or entities Cedar rejects is moved to DIR/rejected/.

--check K also runs `cedar authorize -v` (the one-request command) on the first K requests and
stops with an error if its answer differs from the one read from run-tests, so a change in the
CLI's output cannot silently corrupt the oracle.  Python 3 standard library only.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

MANY = 1000000
ERR_RE = re.compile(r"error while evaluating policy `([^`]*)`")


def uid_str(u):
    s = u["id"].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    s = s.replace("\r", "\\r").replace("\0", "\\0")
    return '%s::"%s"' % (u["type"], s)


class OracleError(Exception):
    pass


def parse_results(out, n):
    """Map test name -> result text, from run-tests' stdout."""
    res = {}
    starts = [m for m in re.finditer(r"^  test (r\d+[AD]) \.\.\. ", out, re.M)]
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else out.rfind("\nresults: ")
        res[m.group(1)] = out[m.end():end].strip("\n")
    if len(res) != 2 * n:
        raise OracleError("run-tests reported %d of %d tests" % (len(res), 2 * n))
    return res


def answer(text, ids):
    """(decision matched?, reason, errors) from one test's result text."""
    if re.match(r"fail: expected (Allow|Deny), got (Allow|Deny)$", text):
        return None
    m = re.match(r"fail: (missing reason\(s\): (.*?); )?expected %d error\(s\), but got (\d+) runtime error\(s\)(: (.*))?$"
                 % MANY, text, re.S)
    if not m:
        raise OracleError("unexpected run-tests result: %r" % text[:300])
    missing = set(re.findall(r"`([^`]*)`", m.group(2) or ""))
    reason = [i for i in ids if i not in missing]
    errors = ERR_RE.findall(m.group(5) or "")
    if len(errors) != int(m.group(3)):
        raise OracleError("could not read %s runtime errors from %r" % (m.group(3), text[:300]))
    return reason, sorted(set(errors))


def run_case(cedar, root, path, check):
    with open(path, encoding="utf-8") as f:
        case = json.load(f)
    ids = case["policyIds"]
    pol = os.path.join(root, case["policies"])
    ents = os.path.join(root, case["entities"])
    reqs = case["requests"]
    with tempfile.TemporaryDirectory() as tmp:
        tests = []
        # Inline entities: a file named here is re-read per test with one read(2) per byte.
        with open(ents, encoding="utf-8") as f:
            entities = json.load(f)
        for i, q in enumerate(reqs):
            body = {"request": {"principal": uid_str(q["principal"]), "action": uid_str(q["action"]),
                                "resource": uid_str(q["resource"]), "context": q["context"]},
                    "entities": entities, "reason": ids, "num_errors": MANY}
            tests.append(dict(body, name="r%dA" % i, decision="allow"))
            tests.append(dict(body, name="r%dD" % i, decision="deny"))
        tpath = os.path.join(tmp, "t.json")
        with open(tpath, "w", encoding="utf-8") as f:
            json.dump(tests, f, ensure_ascii=False)
        p = subprocess.run([cedar, "run-tests", "-f", "plain", "-p", pol, "--tests", tpath],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.stdout.decode("utf-8", "replace")
        if not out.startswith("running "):
            for q in reqs:
                q["decision"] = "reject"
            os.makedirs(os.path.join(root, "rejected"), exist_ok=True)
            with open(os.path.join(root, "rejected", os.path.basename(path)), "w", encoding="utf-8") as f:
                json.dump(case, f, ensure_ascii=False, indent=1)
            os.remove(path)
            return path, "rejected", out.strip()[:2000]
        res = parse_results(out, len(reqs))
        kept, rejected = [], []
        for i, q in enumerate(reqs):
            ta, td = res["r%dA" % i], res["r%dD" % i]
            if ta.startswith("error") and td.startswith("error"):
                q["decision"] = "reject"
                q["cedarError"] = ta[:500]
                rejected.append(q)
                continue
            a, d = answer(ta, ids), answer(td, ids)
            if (a is None) == (d is None):
                raise OracleError("%s request %d: neither or both decisions matched" % (path, i))
            kept.append(q)
            q["decision"] = "allow" if a is not None else "deny"
            q["reason"], q["errors"] = a if a is not None else d
        for i, q in enumerate(kept[:check]):
            cpath = os.path.join(tmp, "c%d.json" % i)
            with open(cpath, "w", encoding="utf-8") as f:
                json.dump(q["context"], f, ensure_ascii=False)
            p = subprocess.run([cedar, "authorize", "-v", "-f", "plain", "-p", pol, "--entities", ents,
                                "-l", uid_str(q["principal"]), "-a", uid_str(q["action"]), "-r",
                                uid_str(q["resource"]), "-c", cpath], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            o = p.stdout.decode("utf-8", "replace")
            dec = "allow" if re.search(r"^ALLOW$", o, re.M) else "deny" if re.search(r"^DENY$", o, re.M) else None
            m = re.search(r"following policies:\n((?:  .*\n?)*)", o)
            reason = sorted(l.strip() for l in m.group(1).splitlines() if l.strip()) if m else []
            errors = sorted(set(ERR_RE.findall(o)))
            if (dec, reason, errors) != (q["decision"], sorted(q["reason"]), q["errors"]):
                raise OracleError("%s request %d: authorize says %s %s %s, run-tests %s %s %s" % (
                    path, i, dec, reason, errors, q["decision"], q["reason"], q["errors"]))
    if rejected:
        os.makedirs(os.path.join(root, "rejected"), exist_ok=True)
        with open(os.path.join(root, "rejected", os.path.basename(path)), "w", encoding="utf-8") as f:
            json.dump(dict(case, requests=rejected), f, ensure_ascii=False, indent=1)
    case["requests"] = kept
    with open(path, "w", encoding="utf-8") as f:
        json.dump(case, f, ensure_ascii=False, indent=1)
    return path, "ok", "%d" % len(rejected)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cedar", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--check", type=int, default=0, help="cross-check the first K requests of each case")
    a = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(a.dir, "gen", "*.json")))
    paths = [p for p in paths if not p.endswith(".entities.json")]
    rejected = rejected_reqs = 0
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(run_case, a.cedar, a.dir, p, a.check) for p in paths]
        for fu in futs:
            path, status, why = fu.result()
            if status == "rejected":
                rejected += 1
                print("oracle: Cedar rejects %s: %s" % (path, why.splitlines()[0] if why else ""))
            else:
                rejected_reqs += int(why)
    print("oracle: %d case(s) answered, %d case(s) and %d request(s) rejected by Cedar" % (
        len(paths) - rejected, rejected, rejected_reqs))


if __name__ == "__main__":
    try:
        main()
    except OracleError as e:
        print("oracle: %s" % e, file=sys.stderr)
        sys.exit(2)
