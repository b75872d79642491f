//! `block_device_mapping_v2` and the legacy `block_device_mapping` of a
//! server create: Nova's schemas (`legacy_block_device_mapping`,
//! `block_device_mapping_v2_new_item`) and `BlockDeviceDict.from_api`,
//! parsed into the Compute API's [`BlockDevice`]s, which it checks.

use crate::compute::api::BlockDevice;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::invalid;
use nova_common::NovaError;
use serde_json::{Map, Value};

/// Every key either kind of mapping may have, with the first microversion
/// that takes it.
const KEYS: &[(&str, u32)] = &[
    ("virtual_name", 1),
    ("volume_id", 1),
    ("snapshot_id", 1),
    ("volume_size", 1),
    ("device_name", 1),
    ("delete_on_termination", 1),
    ("no_device", 1),
    ("connection_info", 1),
    ("source_type", 1),
    ("uuid", 1),
    ("image_id", 1),
    ("destination_type", 1),
    ("guest_format", 1),
    ("device_type", 1),
    ("disk_bus", 1),
    ("boot_index", 1),
    ("tag", 42),
    ("volume_type", 67),
];

/// The keys of the legacy mapping (no v2 item keys).
const LEGACY_KEYS: &[&str] = &[
    "virtual_name",
    "volume_id",
    "snapshot_id",
    "volume_size",
    "device_name",
    "delete_on_termination",
    "no_device",
    "connection_info",
];

/// The create body's mappings. Both kinds at once are refused, as Nova's.
pub fn parse(server: &Map<String, Value>, v: ApiVersion) -> ApiResult<Vec<BlockDevice>> {
    let items = |key: &str| -> ApiResult<Vec<Value>> {
        match server.get(key) {
            None => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(other) => Err(invalid(
                key,
                other,
                &format!("{other} is not of type 'array'"),
            )),
        }
    };
    let legacy = items("block_device_mapping")?;
    let v2 = items("block_device_mapping_v2")?;
    if !legacy.is_empty() && !v2.is_empty() {
        return Err(ApiError::bad_request(
            "Using different block_device_mapping syntaxes is not allowed in the same request.",
        ));
    }
    let image_ref = server
        .get("imageRef")
        .and_then(Value::as_str)
        .is_some_and(|r| !r.is_empty());
    let mut out = Vec::new();
    for (i, item) in legacy.iter().enumerate() {
        let b = parse_item(i, item, v, true)?;
        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
        out.push(b.from_legacy(text("virtual_name"), text("device_name"), image_ref)?);
    }
    for (i, item) in v2.iter().enumerate() {
        let b = parse_item(i, item, v, false)?;
        out.push(from_api(b, item)?);
    }
    Ok(out)
}

fn string_field<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    min: usize,
    max: usize,
) -> ApiResult<Option<&'a str>> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => Err(invalid(
            key,
            &Value::String(s.clone()),
            &format!("'{s}' is too long"),
        )),
        Some(Value::String(s)) if s.chars().count() < min => Err(invalid(
            key,
            &Value::String(s.clone()),
            &format!("'{s}' is too short"),
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(
            key,
            other,
            &format!("{other} is not of type 'string'"),
        )),
    }
}

fn id_chars(key: &str, s: &str) -> ApiResult<()> {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        Ok(())
    } else {
        Err(invalid(
            key,
            &Value::String(s.into()),
            &format!("'{s}' does not match '^[a-zA-Z0-9._-]*$'"),
        ))
    }
}

/// An integer, or a string of one (`volume_size`, `boot_index`).
fn integer_field(o: &Map<String, Value>, key: &str, nullable: bool) -> ApiResult<Option<i64>> {
    let bad = |v: &Value, why: &str| Err(invalid(key, v, why));
    match o.get(key) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(None),
        Some(n @ Value::Number(_)) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => bad(n, &format!("{n} is not of type 'integer', 'string'")),
        },
        Some(s @ Value::String(t)) => match t.trim().parse::<i64>() {
            Ok(i) => Ok(Some(i)),
            Err(_) => bad(s, &format!("'{t}' does not match '^-?[0-9]+$'")),
        },
        Some(other) => bad(
            other,
            &format!("{other} is not of type 'integer', 'string'"),
        ),
    }
}

fn parse_item(i: usize, item: &Value, v: ApiVersion, legacy: bool) -> ApiResult<BlockDevice> {
    let Some(o) = item.as_object() else {
        return Err(invalid(
            &i.to_string(),
            item,
            &format!("{item} is not of type 'object'"),
        ));
    };
    let allowed = |k: &str| {
        if legacy {
            LEGACY_KEYS.contains(&k)
        } else {
            KEYS.iter()
                .any(|(key, first)| *key == k && v.at_least(*first))
        }
    };
    if let Some(k) = o.keys().find(|k| !allowed(k)) {
        return Err(invalid(
            &i.to_string(),
            item,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    string_field(o, "virtual_name", 0, 255)?;
    string_field(o, "connection_info", 0, 16_777_215)?;
    for k in ["guest_format", "device_type", "disk_bus", "volume_type"] {
        string_field(o, k, 0, 255)?;
    }
    if let Some(name) = string_field(o, "device_name", 1, 255)? {
        if name.contains(char::is_whitespace) {
            return Err(invalid(
                "device_name",
                &Value::String(name.into()),
                "Device name contains spaces.",
            ));
        }
    }
    if let Some(tag) = string_field(o, "tag", 1, 60)? {
        if tag.contains(['/', ',']) {
            return Err(invalid(
                "tag",
                &Value::String(tag.into()),
                &format!("'{tag}' does not match '^[^,/]*$'"),
            ));
        }
    }
    for k in ["volume_id", "snapshot_id", "image_id", "uuid"] {
        if let Some(id) = string_field(o, k, 1, 255)? {
            id_chars(k, id)?;
        }
    }
    let enumerated = |key: &str, values: &[&str]| -> ApiResult<Option<String>> {
        match string_field(o, key, 0, 255)? {
            None => Ok(None),
            Some(s) if values.contains(&s) => Ok(Some(s.into())),
            Some(s) => Err(invalid(
                key,
                &Value::String(s.into()),
                &format!("'{s}' is not one of {values:?}"),
            )),
        }
    };
    let source_type = enumerated("source_type", &["volume", "image", "snapshot", "blank"])?;
    let destination_type = enumerated("destination_type", &["local", "volume"])?;
    let volume_size = integer_field(o, "volume_size", true)?;
    if let Some(size) = volume_size.filter(|s| *s < 1 || *s > i64::from(i32::MAX)) {
        return Err(invalid(
            "volume_size",
            &o["volume_size"],
            &format!("{size} is less than the minimum of 1"),
        ));
    }
    match o.get("delete_on_termination") {
        None | Some(Value::Bool(_)) => {}
        Some(Value::String(s))
            if [
                "true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n",
            ]
            .contains(&s.to_lowercase().as_str()) => {}
        Some(other) => {
            return Err(invalid(
                "delete_on_termination",
                other,
                &format!("{other} is not of type 'boolean', 'string'"),
            ))
        }
    }
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(BlockDevice {
        source_type,
        destination_type,
        volume_id: text("volume_id"),
        snapshot_id: text("snapshot_id"),
        image_id: text("image_id"),
        boot_index: integer_field(o, "boot_index", true)?,
        volume_size,
        guest_format: text("guest_format"),
        // Any value but an absent or false-like one (Nova's `no_device: {}`
        // takes anything; its from_api tests truthiness).
        no_device: o.get("no_device").is_some_and(truthy),
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Nova's `BlockDeviceDict.from_api`: the `uuid` named by its source type.
fn from_api(mut b: BlockDevice, item: &Value) -> ApiResult<BlockDevice> {
    if b.no_device {
        return Ok(b);
    }
    let format = |details: &str| -> ApiError {
        NovaError::InvalidBDMFormat {
            details: details.into(),
        }
        .into()
    };
    let uuid = item.get("uuid").and_then(Value::as_str).map(str::to_string);
    let source = b.source_type.clone().unwrap_or_default();
    if source == "blank" && uuid.is_some() {
        return Err(format("Invalid device UUID."));
    }
    if source != "blank" {
        let Some(id) = uuid else {
            return Err(format("Missing device UUID."));
        };
        match source.as_str() {
            "volume" => b.volume_id = Some(id),
            "snapshot" => b.snapshot_id = Some(id),
            _ => b.image_id = Some(id),
        }
    }
    let local = b.destination_type.as_deref() == Some("local");
    // An image to local is the root disk of `--image` (OSC sends it
    // without imageRef too: the root disk all the same).
    if source == "image" && local && b.boot_index.unwrap_or(-1) != 0 {
        return Err(format("Mapping image to local is not supported."));
    }
    let volume_type = item.get("volume_type").is_some_and(|t| !t.is_null());
    if local && volume_type {
        return Err(format(
            "Specifying a volume_type with destination_type=local is not supported.",
        ));
    }
    if source == "volume" && volume_type {
        return Err(format(
            "Specifying volume type to existing volume is not supported.",
        ));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_v(body: Value, v: u32) -> ApiResult<Vec<BlockDevice>> {
        parse(
            body.as_object().unwrap_or(&Map::new()),
            ApiVersion::new(2, v),
        )
    }

    fn message(r: ApiResult<Vec<BlockDevice>>) -> String {
        match r {
            Err(e) => e.message,
            Ok(b) => panic!("accepted: {b:?}"),
        }
    }

    #[test]
    fn the_osc_image_root_disk_parses() {
        let b = parse_v(
            json!({"block_device_mapping_v2": [{"uuid": "abc-1", "boot_index": "0",
                "source_type": "image", "destination_type": "local",
                "delete_on_termination": true}]}),
            1,
        )
        .unwrap_or_default();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].image_id.as_deref(), Some("abc-1"));
        assert_eq!(b[0].boot_index, Some(0));
    }

    #[test]
    fn schema_and_from_api_refusals_name_the_problem() {
        let m = message(parse_v(
            json!({"block_device_mapping_v2": [{"source_type": "disk", "uuid": "x"}]}),
            1,
        ));
        assert!(
            m.starts_with("Invalid input for field/attribute source_type."),
            "{m}"
        );
        let m = message(parse_v(
            json!({"block_device_mapping_v2": [{"source_type": "blank", "bogus": 1}]}),
            1,
        ));
        assert!(m.contains("('bogus' was unexpected)"), "{m}");
        let m = message(parse_v(
            json!({"block_device_mapping_v2": [{"source_type": "blank", "tag": "t"}]}),
            41,
        ));
        assert!(m.contains("('tag' was unexpected)"), "{m}");
        let m = message(parse_v(
            json!({"block_device_mapping_v2": [{"source_type": "volume", "destination_type": "volume", "boot_index": 0}]}),
            1,
        ));
        assert_eq!(m, "Block Device Mapping is Invalid: Missing device UUID.");
        let m = message(parse_v(
            json!({"block_device_mapping_v2": [{"source_type": "blank", "uuid": "u", "destination_type": "local"}]}),
            1,
        ));
        assert_eq!(m, "Block Device Mapping is Invalid: Invalid device UUID.");
        let m = message(parse_v(
            json!({"block_device_mapping_v2": [{"source_type": "image", "uuid": "u", "destination_type": "local", "boot_index": 1}]}),
            1,
        ));
        assert_eq!(
            m,
            "Block Device Mapping is Invalid: Mapping image to local is not supported."
        );
        let m = message(parse_v(
            json!({"block_device_mapping_v2": [{"source_type": "blank", "destination_type": "local", "volume_size": 0}]}),
            1,
        ));
        assert!(
            m.starts_with("Invalid input for field/attribute volume_size."),
            "{m}"
        );
        let m = message(parse_v(
            json!({"block_device_mapping": [{"volume_id": "v"}], "block_device_mapping_v2": [{"source_type": "blank"}]}),
            1,
        ));
        assert_eq!(
            m,
            "Using different block_device_mapping syntaxes is not allowed in the same request."
        );
        let m = message(parse_v(
            json!({"block_device_mapping": [{"source_type": "blank"}]}),
            1,
        ));
        assert!(m.contains("('source_type' was unexpected)"), "{m}");
    }

    #[test]
    fn legacy_mappings_become_v2_ones_as_novas_from_legacy() {
        let one = |item: Value, image: bool| {
            let mut body = json!({"block_device_mapping": [item]});
            if image {
                body["imageRef"] = json!("img");
            }
            parse_v(body, 1)
        };
        let b = one(json!({"virtual_name": "swap", "volume_size": 1}), true).unwrap_or_default();
        assert_eq!(
            (
                b[0].source_type.as_deref(),
                b[0].destination_type.as_deref()
            ),
            (Some("blank"), Some("local"))
        );
        assert_eq!(b[0].guest_format.as_deref(), Some("swap"));
        assert_eq!(b[0].boot_index, Some(-1));
        let b = one(
            json!({"virtual_name": "ephemeral1", "device_name": "/dev/vdb"}),
            true,
        )
        .unwrap_or_default();
        assert_eq!(b[0].source_type.as_deref(), Some("blank"));
        assert_eq!(b[0].guest_format, None);
        // A volume at the root device boots, unless an image does.
        let b =
            one(json!({"volume_id": "v1", "device_name": "/dev/vda"}), false).unwrap_or_default();
        assert_eq!(b[0].source_type.as_deref(), Some("volume"));
        assert_eq!(b[0].boot_index, Some(0));
        assert_eq!(
            message(one(json!({"volume_id": "v1", "device_name": "vda"}), true)),
            "The volume cannot be assigned the same device name as the root device vda"
        );
        let b = one(json!({"snapshot_id": "s1", "device_name": "vdb"}), false).unwrap_or_default();
        assert_eq!(b[0].source_type.as_deref(), Some("snapshot"));
        assert_eq!(b[0].boot_index, Some(-1));
        for unrecognised in [
            json!({"device_name": "vdb"}),
            json!({"virtual_name": "ephemeral01"}),
        ] {
            assert_eq!(
                message(one(unrecognised, true)),
                "Block Device Mapping is Invalid: Unrecognized legacy format."
            );
        }
        let b = one(json!({"device_name": "vdb", "no_device": true}), true).unwrap_or_default();
        assert!(b[0].no_device);
    }
}
