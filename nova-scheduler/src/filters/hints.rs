//! The filters a scheduler hint drives besides the group and host hints:
//! Nova's `SimpleCIDRAffinityFilter` (`build_near_host_ip`, `cidr`) and
//! `JsonFilter` (`query`).

use super::compute_capabilities::capability;
use crate::host_manager::HostState;
use nova_objects::RequestSpec;
use serde_json::Value;
use std::net::IpAddr;

/// Nova's `RequestSpec.get_scheduler_hint`: a one-item list is its item.
fn hint<'a>(spec: &'a RequestSpec, name: &str) -> Option<&'a Value> {
    match spec.scheduler_hints.get(name)?.as_slice() {
        [] => None,
        [one] => Some(one),
        _ => None,
    }
}

/// The network `build_near_host_ip` + `cidr` (default `/24`) names; `None`
/// without the hint, `Some(None)` when it cannot be read (no host passes:
/// Nova fails the request).
pub fn cidr_affinity(spec: &RequestSpec) -> Option<Option<(IpAddr, u8)>> {
    let ip = hint(spec, "build_near_host_ip")?;
    let cidr = hint(spec, "cidr").and_then(Value::as_str).unwrap_or("/24");
    let parsed = (|| {
        let ip: IpAddr = ip.as_str()?.trim().parse().ok()?;
        let prefix: u8 = cidr.trim().strip_prefix('/')?.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some((ip, prefix))
    })();
    Some(parsed)
}

/// Whether `host_ip` is in `net` (address, prefix length).
pub fn in_network(host_ip: &str, net: (IpAddr, u8)) -> bool {
    let Ok(host) = host_ip.trim().parse::<IpAddr>() else {
        return false;
    };
    let (base, prefix) = net;
    match (host, base) {
        (IpAddr::V4(h), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(h) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(h), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(h) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The `query` hint, parsed (a JSON text, or already JSON); `None` without
/// it, `Some(None)` when it is not a JSON list (no host passes).
pub fn json_query(spec: &RequestSpec) -> Option<Option<Value>> {
    let q = hint(spec, "query")?;
    let parsed = match q {
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => serde_json::from_str::<Value>(s).ok(),
        other => Some(other.clone()),
    };
    Some(parsed.filter(Value::is_array))
}

/// Nova's `JsonFilter`: the host passes when the query holds for it (a
/// query that yields a list passes when any item holds). The grammar:
/// `[op, arg, ...]` with `=`, `<`, `>`, `<=`, `>=` (the first argument
/// against each of the others), `in` (the first among the others), `not`
/// (each argument negated, a list), `or`, `and`; an argument is a nested
/// query, a literal, or `$attribute.key...`, a host attribute as
/// ComputeCapabilitiesFilter reads them. Arguments that name nothing are
/// dropped, as Nova's; an unknown operator fails the host.
#[inline(never)]
pub fn json_passes(host: &HostState, query: &Value) -> bool {
    match eval(host, query) {
        Some(Value::Array(items)) => items.iter().any(truthy),
        Some(v) => truthy(&v),
        None => false,
    }
}

/// A query's value (a bool, or a list for `not`); None for an unknown operator.
fn eval(host: &HostState, query: &Value) -> Option<Value> {
    let Some(items) = query.as_array() else {
        return Some(query.clone());
    };
    let Some((op, args)) = items.split_first() else {
        return Some(Value::Bool(true));
    };
    let mut cooked = Vec::with_capacity(args.len());
    for arg in args {
        let v = match arg {
            Value::Array(_) => Some(eval(host, arg)?),
            Value::String(s) => lookup(host, s),
            other => Some(other.clone()),
        };
        cooked.extend(v.filter(|v| !v.is_null()));
    }
    let compare = |ok: fn(std::cmp::Ordering) -> bool| -> Value {
        Value::Bool(match cooked.split_first() {
            Some((first, rest)) if !rest.is_empty() => {
                rest.iter().all(|other| order(first, other).is_some_and(ok))
            }
            _ => false,
        })
    };
    Some(match op.as_str()? {
        "=" => Value::Bool(match cooked.split_first() {
            Some((first, rest)) if !rest.is_empty() => rest.iter().all(|o| equal(first, o)),
            _ => false,
        }),
        "<" => compare(std::cmp::Ordering::is_lt),
        ">" => compare(std::cmp::Ordering::is_gt),
        "<=" => compare(std::cmp::Ordering::is_le),
        ">=" => compare(std::cmp::Ordering::is_ge),
        "in" => Value::Bool(match cooked.split_first() {
            Some((first, rest)) if !rest.is_empty() => rest.iter().any(|o| equal(first, o)),
            _ => false,
        }),
        "not" => Value::Array(cooked.iter().map(|v| Value::Bool(!truthy(v))).collect()),
        "or" => Value::Bool(cooked.iter().any(truthy)),
        "and" => Value::Bool(cooked.iter().all(truthy)),
        _ => return None,
    })
}

/// `$attribute.key...` read from the host; any other text is itself.
fn lookup(host: &HostState, s: &str) -> Option<Value> {
    if s.is_empty() {
        return None;
    }
    let Some(path) = s.strip_prefix('$') else {
        return Some(Value::String(s.to_string()));
    };
    let path: Vec<String> = path.split('.').map(str::to_string).collect();
    capability(host, &path)
}

/// Python's equality of two JSON values (1 == 1.0).
fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Python's ordering where it is defined: numbers with numbers, text with
/// text (other pairs cannot be compared: the comparison fails).
fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Python's truth of a value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_manager::tests::host;
    use serde_json::json;

    fn spec(hints: Value) -> RequestSpec {
        RequestSpec {
            scheduler_hints: serde_json::from_value(hints).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn cidr_affinity_reads_the_hints() {
        assert_eq!(cidr_affinity(&spec(json!({}))), None);
        let near = cidr_affinity(&spec(json!({"build_near_host_ip": ["10.1.2.3"]}))).unwrap();
        assert_eq!(near, Some(("10.1.2.3".parse().unwrap(), 24)));
        let near = cidr_affinity(&spec(
            json!({"build_near_host_ip": ["10.1.2.3"], "cidr": ["/16"]}),
        ))
        .unwrap()
        .unwrap();
        assert!(in_network("10.1.200.7", near));
        assert!(!in_network("10.2.0.1", near));
        assert!(!in_network("not an address", near));
        let default = ("10.1.2.3".parse().unwrap(), 24);
        assert!(in_network("10.1.2.250", default));
        assert!(!in_network("10.1.3.1", default));
        assert!(in_network("10.9.9.9", ("0.0.0.0".parse().unwrap(), 0)));
        assert_eq!(
            cidr_affinity(&spec(json!({"build_near_host_ip": ["nope"]}))),
            Some(None)
        );
    }

    #[test]
    fn json_queries_as_novas_grammar() {
        let mut h = host("h1", 1024.0, true, false);
        h.num_instances = 3;
        h.node = std::sync::Arc::new(nova_objects::ComputeNode {
            ram_allocation_ratio: 1.0,
            ..Default::default()
        });
        let q = |v: Value| json_passes(&h, &v);
        assert!(q(json!([">=", "$free_ram_mb", 1024])));
        assert!(!q(json!([">", "$free_ram_mb", 1024])));
        assert!(q(json!([
            "and",
            [">=", "$free_ram_mb", 512],
            ["=", "$host", "h1"]
        ])));
        assert!(!q(json!([
            "and",
            [">=", "$free_ram_mb", 512],
            ["=", "$host", "h2"]
        ])));
        assert!(q(json!([
            "or",
            ["=", "$host", "h2"],
            ["<", "$num_instances", 4]
        ])));
        assert!(q(json!(["in", "$host", "h0", "h1"])));
        assert!(!q(json!(["in", "$host", "h2", "h3"])));
        assert!(q(json!(["not", ["=", "$host", "h2"]])));
        assert!(!q(json!(["not", ["=", "$host", "h1"]])));
        // A comparison needs two arguments: an unknown attribute is dropped.
        assert!(!q(json!(["=", "$no_such_attribute", 1])));
        // Text and numbers do not compare.
        assert!(!q(json!(["<", "$host", 5])));
        assert!(!q(json!(["~", "$host", "h1"])));
        assert!(q(json!([])));
    }

    #[test]
    fn the_query_hint_is_json_text_or_json() {
        assert_eq!(json_query(&spec(json!({}))), None);
        assert_eq!(
            json_query(&spec(json!({"query": ["[\"=\", \"$host\", \"h1\"]"]}))),
            Some(Some(json!(["=", "$host", "h1"])))
        );
        assert_eq!(
            json_query(&spec(json!({"query": ["{not json"]}))),
            Some(None)
        );
    }
}
