//! Times cedar-policy's `Authorizer::is_authorized` with the policy set, the
//! entities and every request parsed once, one clock sample per decision,
//! round-robin over the requests, for the given number of seconds.  Prints
//! one JSON line in the format of `cedar bench`.
//!   cedar-bench DIR [SECONDS]
use cedar_policy::{Authorizer, Context, Decision, Entities, EntityId, EntityTypeName, EntityUid, PolicySet, Request};
use std::str::FromStr;
use std::time::{Duration, Instant};

fn uid(v: &serde_json::Value) -> EntityUid {
    let t = EntityTypeName::from_str(v["type"].as_str().unwrap()).unwrap();
    EntityUid::from_type_name_and_id(t, EntityId::new(v["id"].as_str().unwrap()))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(&args[1]);
    let secs: f64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(2.0);
    let text = std::fs::read_to_string(dir.join("policies.cedar")).unwrap();
    let pset = PolicySet::from_str(&text).unwrap();
    let ents: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("entities.json")).unwrap()).unwrap();
    let entities = Entities::from_json_value(ents, None).unwrap();
    let reqs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("requests.json")).unwrap()).unwrap();
    let requests: Vec<Request> = reqs.as_array().unwrap().iter().map(|q| {
        let ctx = Context::from_json_value(q["context"].clone(), None).unwrap();
        Request::new(uid(&q["principal"]), uid(&q["action"]), uid(&q["resource"]), ctx, None).unwrap()
    }).collect();
    let auth = Authorizer::new();
    let decisions: String = requests.iter().map(|r| {
        if auth.is_authorized(r, &pset, &entities).decision() == Decision::Allow { 'A' } else { 'D' }
    }).collect();
    let mut lat: Vec<u64> = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut n = 0usize;
    while Instant::now() < end || n < 5 {
        let t0 = Instant::now();
        let r = auth.is_authorized(&requests[n % requests.len()], &pset, &entities);
        lat.push(t0.elapsed().as_nanos() as u64);
        std::hint::black_box(r);
        n += 1;
    }
    let total = start.elapsed().as_nanos() as f64;
    let mean = lat.iter().sum::<u64>() / n as u64;
    lat.sort_unstable();
    println!("{{\"n\":{},\"per_sec\":{:.0},\"median_ns\":{},\"p99_ns\":{},\"mean_ns\":{},\"decisions\":\"{}\"}}",
             n, n as f64 * 1e9 / total, lat[n / 2], lat[(n as f64 * 0.99) as usize], mean, decisions);
}
