//! cedar-inproc: the cedar-policy crate's in-process time per check on the policies,
//! entities and requests `pdp-bench-index --write DIR` generated, measured the way
//! pdp-bench-index measures pdpd's engine: warm-up, then RUNS timed runs of passes over the
//! request list (as many passes as fill about RUN_NS); the figure is the median run's
//! nanoseconds per check.
//!
//! Usage: cedar-inproc DIR [DIR ...]   (each DIR holds policies.cedar, entities.json,
//! requests.json); prints one line per DIR: `DIR policies=N ns_per_check=X decisions=A/D`.
use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

const RUNS: usize = 7;
/* Each timed run lasts about this long (at least one pass over the requests). */
const RUN_NS: f64 = 300e6;

fn uid(v: &serde_json::Value) -> EntityUid {
    EntityUid::from_json(v.clone()).expect("entity uid")
}

fn main() {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        eprintln!("usage: cedar-inproc DIR [DIR ...]");
        std::process::exit(2);
    }
    for dir in dirs {
        let text = std::fs::read_to_string(format!("{dir}/policies.cedar")).expect("policies.cedar");
        let policies = PolicySet::from_str(&text).expect("parse policies");
        let ents: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/entities.json")).expect("entities.json"))
                .expect("entities json");
        let entities = Entities::from_json_value(ents, None).expect("entities");
        let reqs: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/requests.json")).expect("requests.json"))
                .expect("requests json");
        let requests: Vec<Request> = reqs
            .as_array()
            .expect("requests array")
            .iter()
            .map(|r| {
                let ctx = Context::from_json_value(r["context"].clone(), None).expect("context");
                Request::new(uid(&r["principal"]), uid(&r["action"]), uid(&r["resource"]), ctx, None)
                    .expect("request")
            })
            .collect();
        let auth = Authorizer::new();
        let (mut allow, mut deny) = (0usize, 0usize);
        for q in &requests {
            match auth.is_authorized(q, &policies, &entities).decision() {
                Decision::Allow => allow += 1,
                Decision::Deny => deny += 1,
            }
        }
        /* Warm-up, which also calibrates the passes per run. */
        let t = Instant::now();
        let mut warm = 0usize;
        while warm == 0 || (t.elapsed().as_nanos() as f64) < RUN_NS / 4.0 {
            for q in &requests {
                black_box(auth.is_authorized(q, &policies, &entities));
            }
            warm += 1;
        }
        let pass_ns = t.elapsed().as_nanos() as f64 / warm as f64;
        let iters = ((RUN_NS / pass_ns) as usize).max(1);
        let mut per: Vec<f64> = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..iters {
                    for q in &requests {
                        black_box(auth.is_authorized(black_box(q), &policies, &entities));
                    }
                }
                t.elapsed().as_nanos() as f64 / (iters * requests.len()) as f64
            })
            .collect();
        per.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{dir} policies={} ns_per_check={:.1} decisions={allow}/{deny}",
            policies.policies().count(),
            per[RUNS / 2]
        );
    }
}
