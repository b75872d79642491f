//! Response bodies, as Nova's view builders (`nova/api/openstack/compute/views/`) make them.

pub mod availability_zones;
pub mod flavors;
pub mod hypervisors;
pub mod images;
pub mod keypairs;
pub mod limits;
pub mod quota_classes;
pub mod quota_sets;
pub mod security_groups;
pub mod servers;
pub mod services;
pub mod versions;

use crate::openstack::common::BaseUrl;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `2012-08-20T21:11:09Z`, as servers' `created`/`updated` and faults.
pub fn isotime(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null)
}

/// `2012-08-20T21:11:09.000000`, as `launched_at` and services' `updated_at`.
pub fn micro_isotime(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()))
        .unwrap_or(Value::Null)
}

/// Nova's `_get_links`: the self and bookmark links of a resource.
pub fn links(base: &BaseUrl, collection: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/{collection}/{id}", base.versioned)},
        {"rel": "bookmark", "href": format!("{}/{collection}/{id}", base.bookmark)},
    ])
}

/// Nova's `_get_next_link`: the collection's URL with the request's query
/// parameters, sorted by name, and `marker` set to `marker`.
pub fn next_link(
    base: &BaseUrl,
    collection: &str,
    params: &[(String, String)],
    marker: &str,
) -> Value {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted.push(("marker", marker));
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(sorted)
        .finish();
    json!([{"rel": "next", "href": format!("{}/{collection}?{query}", base.versioned)}])
}

/// Nova's `_get_collection_links`: a `next` link when the page is full,
/// that is when it holds `min(limit, [api] max_limit)` items (`limit` the
/// query parameter, else `max_limit`); its marker is the last item's id.
pub fn collection_links(
    base: &BaseUrl,
    collection: &str,
    params: &[(String, String)],
    max_limit: usize,
    page: usize,
    last_id: Option<String>,
) -> Option<Value> {
    let limit = params
        .iter()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(max_limit)
        .min(max_limit);
    page_link(base, collection, params, Some(limit), page, || last_id)
}

/// The `next` link of a page cut at `limit` (the limit the handler applied,
/// `None` when it did not page): there is one when the page is full; its
/// marker is the last item's id, its other parameters the request's.
pub fn page_link(
    base: &BaseUrl,
    collection: &str,
    params: &[(String, String)],
    limit: Option<usize>,
    page: usize,
    last_id: impl FnOnce() -> Option<String>,
) -> Option<Value> {
    let limit = limit?;
    if limit == 0 || page < limit {
        return None;
    }
    Some(next_link(base, collection, params, &last_id()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_full_page_links_to_the_next_with_sorted_encoded_params() {
        let q = p(&[("status", "a b"), ("limit", "2"), ("marker", "old")]);
        let h = BaseUrl::new("http://h", None);
        let l = collection_links(&h, "os-migrations", &q, 1000, 2, Some("m2".into())).unwrap();
        assert_eq!(
            l[0]["href"],
            "http://h/v2.1/os-migrations?limit=2&status=a+b&marker=m2"
        );
        assert_eq!(l[0]["rel"], "next");
        // A URL that named the project: Nova's links repeat it.
        let h = BaseUrl::new("http://h/", Some("abc123"));
        let l = collection_links(&h, "flavors", &q, 1000, 2, Some("f2".into())).unwrap();
        assert_eq!(
            l[0]["href"],
            "http://h/v2.1/abc123/flavors?limit=2&status=a+b&marker=f2"
        );
        assert_eq!(
            links(&h, "servers", "u1"),
            json!([{"rel": "self", "href": "http://h/v2.1/abc123/servers/u1"},
                {"rel": "bookmark", "href": "http://h/abc123/servers/u1"}])
        );
    }

    #[test]
    fn a_short_page_or_limit_zero_has_no_next_link() {
        let q = p(&[("limit", "3")]);
        assert!(
            collection_links(&BaseUrl::new("h", None), "c", &q, 1000, 2, Some("x".into()))
                .is_none()
        );
        let q = p(&[("limit", "0")]);
        assert!(
            collection_links(&BaseUrl::new("h", None), "c", &q, 1000, 0, Some("x".into()))
                .is_none()
        );
    }

    #[test]
    fn without_a_limit_a_page_of_max_limit_is_full() {
        let l = collection_links(
            &BaseUrl::new("h", None),
            "flavors",
            &[],
            2,
            2,
            Some("f2".into()),
        );
        assert_eq!(l.unwrap()[0]["href"], "h/v2.1/flavors?marker=f2");
        let q = p(&[("limit", "5")]);
        assert!(
            collection_links(&BaseUrl::new("h", None), "c", &q, 2, 2, Some("x".into())).is_some()
        );
    }
}
