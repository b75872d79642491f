//! Image bodies of the compute API's image proxy (Nova's `views/images.py`).

use crate::openstack::common::BaseUrl;
use chrono::{DateTime, Utc};
use nova_clients::glance::GlanceImage;
use serde_json::{json, Value};

/// Glance's status as the compute API names it.
pub fn status(glance: &str) -> &'static str {
    match glance {
        "active" => "ACTIVE",
        "queued" | "saving" | "uploading" | "importing" => "SAVING",
        "deleted" | "pending_delete" => "DELETED",
        "killed" => "ERROR",
        _ => "UNKNOWN",
    }
}

fn progress(glance: &str) -> i64 {
    match glance {
        "queued" => 25,
        "saving" => 50,
        "active" => 100,
        _ => 0,
    }
}

/// Glance's RFC 3339 time as `2012-08-20T21:11:09Z`.
fn date(t: Option<&str>) -> Value {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            Value::from(
                t.with_timezone(&Utc)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
            )
        })
        .unwrap_or(Value::Null)
}

/// self, bookmark, and the image in Glance (`alternate`).
fn links(base: &BaseUrl, glance: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/images/{id}", base.versioned)},
        {"rel": "bookmark", "href": format!("{}/images/{id}", base.bookmark)},
        {"rel": "alternate", "type": "application/vnd.openstack.image",
         "href": format!("{glance}/images/{id}")},
    ])
}

/// An entry of `GET /images`.
pub fn basic(base: &BaseUrl, glance: &str, i: &GlanceImage) -> Value {
    json!({"id": i.meta.id, "name": i.meta.name, "links": links(base, glance, &i.meta.id)})
}

/// `GET /images/{id}` and an entry of `GET /images/detail`.
pub fn detail(base: &BaseUrl, glance: &str, i: &GlanceImage) -> Value {
    let m = &i.meta;
    let mut v = json!({
        "id": m.id,
        "name": m.name,
        "minRam": m.min_ram,
        "minDisk": m.min_disk,
        "metadata": m.properties,
        "created": date(i.created_at.as_deref()),
        "updated": date(i.updated_at.as_deref()),
        "status": status(&m.status),
        "progress": progress(&m.status),
        "links": links(base, glance, &m.id),
        "OS-EXT-IMG-SIZE:size": m.size,
    });
    // Nova's disk_config extension: the image's `auto_disk_config`, if set.
    if let Some(adc) = m.properties.get("auto_disk_config") {
        v["OS-DCF:diskConfig"] = json!(if nova_common::bool_from_string(adc) {
            "AUTO"
        } else {
            "MANUAL"
        });
    }
    if let Some(server) = m.properties.get("instance_uuid") {
        v["server"] = json!({"id": server, "links": [
            {"rel": "self", "href": format!("{}/servers/{server}", base.versioned)},
            {"rel": "bookmark", "href": format!("{}/servers/{server}", base.bookmark)},
        ]});
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_in_progress_and_its_server() {
        let v = json!({"id": "i1", "name": "snap", "status": "queued", "min_ram": 0, "min_disk": 1,
            "size": null, "created_at": "2026-12-04T10:00:00Z", "updated_at": "2026-12-04T10:00:01Z",
            "instance_uuid": "s1", "image_type": "snapshot", "visibility": "private"});
        let i = GlanceImage::from_json(&v);
        let d = detail(&BaseUrl::new("http://n", Some("p1")), "http://g", &i);
        assert_eq!(d["status"], "SAVING");
        assert_eq!(d["progress"], 25);
        assert_eq!(d["minDisk"], 1);
        assert_eq!(d["updated"], "2026-12-04T10:00:01Z");
        assert_eq!(d["server"]["id"], "s1");
        assert_eq!(
            d["server"]["links"][0]["href"],
            "http://n/v2.1/p1/servers/s1"
        );
        assert_eq!(d["links"][1]["href"], "http://n/p1/images/i1");
        assert_eq!(d["metadata"]["image_type"], "snapshot");
        assert_eq!(d["links"][2]["href"], "http://g/images/i1");
        assert!(d.get("OS-DCF:diskConfig").is_none(), "{d}");
        let mut v = v;
        for (adc, shown) in [
            ("True", "AUTO"),
            ("disabled", "MANUAL"),
            ("False", "MANUAL"),
        ] {
            v["auto_disk_config"] = json!(adc);
            let d = detail(
                &BaseUrl::new("http://n", None),
                "http://g",
                &GlanceImage::from_json(&v),
            );
            assert_eq!(d["OS-DCF:diskConfig"], shown, "{adc}");
        }
        assert_eq!(status("killed"), "ERROR");
        assert_eq!(status("whatever"), "UNKNOWN");
    }
}
