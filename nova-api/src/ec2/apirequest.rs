//! The AWS Query protocol (Nova's `apirequest.py`): a request's arguments
//! (`InstanceId.1`, `Filter.1.Name`, `Filter.1.Value.1`, ...) and the XML a
//! response is rendered to, in the namespace of the request's `Version`.

use super::faults::Ec2Error;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Parameters that authenticate or frame a request rather than being its
/// arguments (Nova's `non_args`, and SigV4's query parameters).
const NON_ARGS: &[&str] = &[
    "Action",
    "Signature",
    "AWSAccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "Version",
    "Timestamp",
    "Expires",
];

/// A request's arguments, as sent.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

/// One `Filter.N`: its name and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Params {
    /// The arguments among all of a request's parameters.
    pub fn from_request(all: &[(String, String)]) -> Self {
        Params(
            all.iter()
                .filter(|(k, _)| !NON_ARGS.contains(&k.as_str()) && !k.starts_with("X-Amz-"))
                .cloned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A required argument (`MissingParameter`).
    pub fn required(&self, key: &str) -> Result<&str, Ec2Error> {
        match self.get(key) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Ec2Error::missing_parameter(key)),
        }
    }

    /// An integer argument.
    pub fn int(&self, key: &str) -> Result<Option<i64>, Ec2Error> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| Ec2Error::invalid_value(key, v))
            })
            .transpose()
    }

    /// A boolean argument (`true`/`false`).
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Ec2Error> {
        self.get(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(Ec2Error::invalid_value(key, v)),
            })
            .transpose()
    }

    /// `<prefix>.N` arguments, in the order of N.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut items: Vec<(u64, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(prefix)?.strip_prefix('.')?;
                n.parse::<u64>().ok().map(|n| (n, v.clone()))
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `<prefix>.N.<field>` arguments grouped by N (in the order of N).
    pub fn structs(&self, prefix: &str) -> Vec<BTreeMap<String, String>> {
        let mut by_n: BTreeMap<u64, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            by_n.entry(n)
                .or_default()
                .insert(field.to_string(), v.clone());
        }
        by_n.into_values().collect()
    }

    /// `Filter.N.Name` with its `Filter.N.Value.M`.
    pub fn filters(&self) -> Result<Vec<Filter>, Ec2Error> {
        let mut out = vec![];
        for f in self.structs("Filter") {
            let Some(name) = f.get("Name").filter(|n| !n.is_empty()) else {
                return Err(Ec2Error::missing_parameter("Filter.N.Name"));
            };
            let mut values: Vec<(u64, String)> = f
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("Value.")
                        .and_then(|n| n.parse::<u64>().ok())
                        .map(|n| (n, v.clone()))
                })
                .collect();
            values.sort_by_key(|(n, _)| *n);
            out.push(Filter {
                name: name.clone(),
                values: values.into_iter().map(|(_, v)| v).collect(),
            });
        }
        Ok(out)
    }

    /// `MaxResults` (within `min..=max`) and `NextToken` (an offset this API handed out).
    pub fn page(&self, min: i64, max: i64) -> Result<(Option<usize>, usize), Ec2Error> {
        let limit = match self.int("MaxResults")? {
            None => None,
            Some(n) if (min..=max).contains(&n) => Some(n as usize),
            Some(n) => {
                return Err(Ec2Error::new(
                    "InvalidParameterValue",
                    format!("Value ( {n} ) for parameter maxResults is invalid. Expecting a value between {min} and {max}."),
                ))
            }
        };
        let offset = match self.get("NextToken") {
            None | Some("") => 0,
            Some(t) => t.parse::<usize>().map_err(|_| {
                Ec2Error::new("InvalidParameterValue", format!("Invalid NextToken: {t}"))
            })?,
        };
        Ok((limit, offset))
    }
}

/// `*` and `?` wildcards, as EC2 filter values allow.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether any of a filter's values matches `text`.
pub fn filter_matches(f: &Filter, text: &str) -> bool {
    f.values.iter().any(|v| glob_match(v, text))
}

/// A response body: elements, text, or lists of `<item>`s.
#[derive(Clone, Debug, PartialEq)]
pub enum X {
    Text(String),
    Obj(Vec<(String, X)>),
    Items(Vec<X>),
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as Nova's `apirequest._database_to_isoformat`.
pub fn isotime(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl X {
    pub fn text(s: impl Into<String>) -> X {
        X::Text(s.into())
    }
    pub fn bool(b: bool) -> X {
        X::Text(if b { "true" } else { "false" }.into())
    }
    pub fn int(n: i64) -> X {
        X::Text(n.to_string())
    }
    /// A time as [`isotime`] writes it.
    pub fn time(t: &DateTime<Utc>) -> X {
        X::Text(isotime(t))
    }
    pub fn obj<K: Into<String>>(fields: Vec<(K, X)>) -> X {
        X::Obj(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    /// `{"value": ...}`, as attribute answers wrap their value.
    pub fn value(v: X) -> X {
        X::obj(vec![("value", v)])
    }
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push(char::REPLACEMENT_CHARACTER)
            }
            c => out.push(c),
        }
    }
}

fn render_into(name: &str, x: &X, out: &mut String) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match x {
        X::Text(s) => escape(s, out),
        X::Obj(fields) => {
            for (k, v) in fields {
                render_into(k, v, out);
            }
        }
        X::Items(items) => {
            for i in items {
                render_into("item", i, out);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// `<{Action}Response xmlns="http://ec2.amazonaws.com/doc/{Version}/">`
/// with `requestId` first, then the body's elements.
pub fn render_response(
    action: &str,
    version: &str,
    request_id: &str,
    body: &[(String, X)],
) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    out.push_str(action);
    out.push_str("Response xmlns=\"http://ec2.amazonaws.com/doc/");
    escape(version, &mut out);
    out.push_str("/\">");
    render_into("requestId", &X::text(request_id), &mut out);
    for (k, v) in body {
        render_into(k, v, &mut out);
    }
    out.push_str("</");
    out.push_str(action);
    out.push_str("Response>");
    out
}

/// Nova's `faults.ec2_error_response`.
pub fn render_error(code: &str, message: &str, request_id: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<Response><Errors><Error><Code>");
    escape(code, &mut out);
    out.push_str("</Code><Message>");
    escape(message, &mut out);
    out.push_str("</Message></Error></Errors><RequestID>");
    escape(request_id, &mut out);
    out.push_str("</RequestID></Response>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(p: &[(&str, &str)]) -> Params {
        let all: Vec<(String, String)> = p
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::from_request(&all)
    }

    #[test]
    fn dotted_arguments() {
        let p = params(&[
            ("Action", "DescribeInstances"),
            ("Version", "2016-11-15"),
            ("InstanceId.2", "i-00000002"),
            ("InstanceId.10", "i-0000000a"),
            ("InstanceId.1", "i-00000001"),
            ("Filter.1.Name", "instance-state-name"),
            ("Filter.1.Value.2", "stopped"),
            ("Filter.1.Value.1", "running"),
            ("Filter.2.Name", "tag:Name"),
            ("Filter.2.Value.1", "web*"),
            ("X-Amz-Date", "20260101T000000Z"),
        ]);
        assert_eq!(p.get("Action"), None);
        assert_eq!(p.get("X-Amz-Date"), None);
        assert_eq!(
            p.list("InstanceId"),
            ["i-00000001", "i-00000002", "i-0000000a"]
        );
        let f = p.filters().expect("filters");
        assert_eq!(f[0].name, "instance-state-name");
        assert_eq!(f[0].values, ["running", "stopped"]);
        assert!(filter_matches(&f[1], "webserver"));
        assert!(!filter_matches(&f[1], "db"));
        assert!(params(&[("Filter.1.Value.1", "x")]).filters().is_err());
        assert_eq!(
            params(&[("MaxCount", "x")])
                .int("MaxCount")
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            params(&[]).required("ImageId").unwrap_err().code,
            "MissingParameter"
        );
        assert_eq!(
            params(&[("MaxResults", "3")])
                .page(5, 1000)
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            params(&[("MaxResults", "5"), ("NextToken", "10")])
                .page(5, 1000)
                .ok(),
            Some((Some(5), 10))
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("a*c*", "abxxcyy"));
        assert!(!glob_match("a*d", "abc"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn xml_shapes() {
        let body = vec![(
            "instancesSet".to_string(),
            X::Items(vec![X::obj(vec![
                ("instanceId", X::text("i-00000001")),
                ("amiLaunchIndex", X::int(0)),
                ("ok", X::bool(true)),
                ("name", X::text("a<b&\"c\"")),
            ])]),
        )];
        let xml = render_response("RunInstances", "2016-11-15", "req-1", &body);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<RunInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>req-1</requestId><instancesSet><item><instanceId>i-00000001</instanceId>\
             <amiLaunchIndex>0</amiLaunchIndex><ok>true</ok><name>a&lt;b&amp;&quot;c&quot;</name></item></instancesSet>\
             </RunInstancesResponse>"
        );
        let t = DateTime::parse_from_rfc3339("2026-12-04T06:00:01.5Z")
            .expect("ts")
            .with_timezone(&Utc);
        assert_eq!(X::time(&t), X::text("2026-12-04T06:00:01.500Z"));
        assert_eq!(
            render_error("AuthFailure", "no <way>", "req-2"),
            "<?xml version=\"1.0\"?>\n<Response><Errors><Error><Code>AuthFailure</Code><Message>no &lt;way&gt;</Message></Error></Errors><RequestID>req-2</RequestID></Response>"
        );
    }
}
