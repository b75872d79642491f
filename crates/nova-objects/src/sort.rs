//! The order of a listing: `sort_key`/`sort_dir` pairs, completed as
//! Nova's `nova.db.utils.process_sort_params` completes them.

use nova_common::NovaError;
use serde::{Deserialize, Serialize};

nova_common::string_enum!(
    /// A sort direction (`sort_dir`).
    SortDir {
        Asc => "asc",
        Desc => "desc",
    }
);

/// The columns a server listing may be sorted by (Nova's
/// `VALID_SORT_KEYS`, without the keys it ignores); 2.73 adds `locked`.
pub const SERVER_SORT_KEYS: &[&str] = &[
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "kernel_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked_by",
    "node",
    "power_state",
    "progress",
    "project_id",
    "ramdisk_id",
    "root_device_name",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
];

/// One key of a listing's order: a column, and which way it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    pub key: String,
    pub dir: SortDir,
}

impl SortKey {
    pub fn new(key: &str, dir: SortDir) -> Self {
        SortKey {
            key: key.to_string(),
            dir,
        }
    }
}

/// Nova's `process_sort_params`: pairs `keys` with `dirs` (a key without
/// a direction takes the first direction given, else `default_dir`), then
/// appends each of `default_keys` not already there with that same
/// direction, so the order ends on keys that tell every row apart.
/// A direction other than `asc`/`desc`, or more directions than keys, is
/// `InvalidInput` (a 400).
pub fn process_sort_params(
    keys: &[String],
    dirs: &[String],
    default_keys: &[&str],
    default_dir: SortDir,
) -> Result<Vec<SortKey>, NovaError> {
    let dirs = dirs
        .iter()
        .map(|d| {
            d.parse::<SortDir>().map_err(|_| NovaError::InvalidInput {
                reason: "Unknown sort direction, must be 'desc' or 'asc'".into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if dirs.len() > keys.len() {
        return Err(NovaError::InvalidInput {
            reason: "Sort direction size exceeds sort key size".into(),
        });
    }
    let fill = dirs.first().copied().unwrap_or(default_dir);
    let mut order: Vec<SortKey> = keys
        .iter()
        .enumerate()
        .map(|(n, k)| SortKey::new(k, dirs.get(n).copied().unwrap_or(fill)))
        .collect();
    for k in default_keys {
        if !keys.iter().any(|given| given == k) {
            order.push(SortKey::new(k, fill));
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(order: &[SortKey]) -> Vec<(&str, &str)> {
        order
            .iter()
            .map(|k| (k.key.as_str(), k.dir.as_str()))
            .collect()
    }

    const DEFAULTS: &[&str] = &["created_at", "id"];

    #[test]
    fn keys_without_directions_take_the_first_and_defaults_follow() {
        let order = process_sort_params(
            &strings(&["display_name", "vm_state"]),
            &strings(&["asc"]),
            DEFAULTS,
            SortDir::Desc,
        )
        .unwrap();
        assert_eq!(
            pairs(&order),
            [
                ("display_name", "asc"),
                ("vm_state", "asc"),
                ("created_at", "asc"),
                ("id", "asc")
            ]
        );
    }

    #[test]
    fn no_direction_at_all_is_the_default_one() {
        let order =
            process_sort_params(&strings(&["created_at"]), &[], DEFAULTS, SortDir::Desc).unwrap();
        assert_eq!(pairs(&order), [("created_at", "desc"), ("id", "desc")]);
        let order = process_sort_params(&[], &[], DEFAULTS, SortDir::Asc).unwrap();
        assert_eq!(pairs(&order), [("created_at", "asc"), ("id", "asc")]);
    }

    #[test]
    fn a_default_key_given_keeps_its_place_and_direction() {
        let order = process_sort_params(
            &strings(&["id", "host"]),
            &strings(&["asc", "desc"]),
            DEFAULTS,
            SortDir::Desc,
        )
        .unwrap();
        assert_eq!(
            pairs(&order),
            [("id", "asc"), ("host", "desc"), ("created_at", "asc")]
        );
    }

    #[test]
    fn bad_directions_are_invalid_input() {
        let e = process_sort_params(
            &strings(&["host"]),
            &strings(&["up"]),
            DEFAULTS,
            SortDir::Desc,
        )
        .unwrap_err();
        assert!(e.to_string().contains("Unknown sort direction"), "{e}");
        let e = process_sort_params(
            &strings(&["host"]),
            &strings(&["asc", "desc"]),
            DEFAULTS,
            SortDir::Desc,
        )
        .unwrap_err();
        assert!(e.to_string().contains("exceeds sort key size"), "{e}");
    }
}
