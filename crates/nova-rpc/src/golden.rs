//! Golden wire samples: one message of each kind, with default arguments and
//! a fixed context, compared to `golden/<api>.json` (one file per `rpc_api!` module). A change to any
//! message's shape shows up as a diff of that file. `UPDATE_GOLDEN=1` rewrites it.

use crate::envelope::{request_inner, RequestMeta};
use nova_common::RequestContext;
use serde_json::{Map, Value};
use std::path::PathBuf;

fn meta() -> RequestMeta {
    RequestMeta {
        ctx: RequestContext {
            request_id: "req-00000000-0000-0000-0000-000000000000".into(),
            user_id: Some("user".into()),
            project_id: Some("project".into()),
            roles: vec!["member".into()],
            ..Default::default()
        },
        version: String::new(),
        namespace: None,
        unique_id: "0".into(),
        msg_id: Some("1".into()),
        reply_q: Some("reply_0".into()),
    }
}

fn check(api: &str, version: &str, namespace: Option<&str>, samples: Vec<Value>) {
    let mut all = Map::new();
    for s in samples {
        let mut m = meta();
        m.version = version.to_string();
        m.namespace = namespace.map(str::to_string);
        let inner = request_inner(&s, &m);
        let method = s["method"].as_str().unwrap_or_default().to_string();
        all.insert(method, inner);
    }
    let got = serde_json::to_string_pretty(&Value::Object(all)).unwrap_or_default() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("golden/{api}.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap_or(&path)).ok();
        std::fs::write(&path, &got).ok();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got, want,
        "{api} wire format changed; rerun with UPDATE_GOLDEN=1 if intended"
    );
}

macro_rules! golden {
    ($name:ident, $module:ident) => {
        #[test]
        fn $name() {
            use crate::$module::{Request, METHODS, NAMESPACE, VERSION};
            let samples: Vec<Value> = Request::golden_samples()
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect();
            // Each sample decodes back to the same request, from its tree
            // and from the message a server receives.
            let meta = crate::envelope::RequestMeta {
                ctx: nova_common::RequestContext::admin(),
                version: VERSION.into(),
                namespace: NAMESPACE.map(String::from),
                unique_id: "u".into(),
                msg_id: Some("m".into()),
                reply_q: Some("q".into()),
            };
            for (s, r) in samples.iter().zip(Request::golden_samples()) {
                let back: Request = serde_json::from_value(s.clone()).expect("decodes");
                assert_eq!(back, r);
                let call = crate::envelope::Call::new(r.method(), &r).expect("call");
                let body = crate::envelope::encode_request(&call, &meta);
                let inner = serde_json::from_slice::<Value>(&body).expect("message")
                    ["oslo.message"]
                    .as_str()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok());
                assert_eq!(inner, Some(crate::envelope::request_inner(s, &meta)));
                let (call, got_meta) = crate::envelope::decode_request(&body).expect("decodes");
                assert_eq!(got_meta, meta);
                assert_eq!(call.method(), r.method());
                assert_eq!(call.request::<Request>().expect("typed"), r);
                assert_eq!(s["method"], r.method());
            }
            let methods: Vec<&str> = samples
                .iter()
                .filter_map(|s| s["method"].as_str())
                .collect();
            assert_eq!(methods, METHODS);
            check(stringify!($module), VERSION, NAMESPACE, samples);
        }
    };
}

golden!(conductor_messages, conductor);
golden!(compute_task_messages, compute_task);
golden!(scheduler_messages, scheduler);
golden!(compute_messages, compute);
golden!(network_messages, network);
golden!(api_messages, api);
