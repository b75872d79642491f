//! The password a guest posts to the metadata service (encrypted with its
//! key pair's public key by the guest agent), kept in the instance's
//! system metadata as Nova's `nova/api/metadata/password.py` does: up to
//! `CHUNKS` items `password_0`..`password_3` of `CHUNK_LENGTH` characters.
//! Read and cleared through the Compute API's `os-server-password`.

use super::API;
use nova_common::{NovaResult, RequestContext};
use nova_objects::Instance;
use std::collections::BTreeMap;

/// How many `password_N` items.
pub const CHUNKS: usize = 4;
/// The characters of one item (a system metadata value is a VARCHAR(255)).
pub const CHUNK_LENGTH: usize = 255;
/// The longest password the metadata service stores (1020).
pub const MAX_SIZE: usize = CHUNKS * CHUNK_LENGTH;

/// Nova's `extract_password`: the `password_N` items joined in key order.
pub fn extract_password(system_metadata: &BTreeMap<String, String>) -> String {
    system_metadata
        .iter()
        .filter(|(k, _)| k.starts_with("password_"))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Nova's `convert_password`: `password` cut into the `password_N`
/// items (all of them, empty past its end; `""` clears it).
pub fn convert_password(password: &str) -> BTreeMap<String, String> {
    let chars: Vec<char> = password.chars().collect();
    (0..CHUNKS)
        .map(|i| {
            let chunk: String = chars
                .iter()
                .skip(i * CHUNK_LENGTH)
                .take(CHUNK_LENGTH)
                .collect();
            (format!("password_{i}"), chunk)
        })
        .collect()
}

impl API {
    /// `GET /servers/{id}/os-server-password`: the stored password, or "".
    pub fn get_server_password(&self, inst: &Instance) -> String {
        extract_password(&inst.system_metadata)
    }

    /// Store `password` as the instance's `password_N` system metadata
    /// (the metadata service's POST, and `""` for `os-server-password`'s
    /// DELETE).
    pub async fn set_server_password(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        password: &str,
    ) -> NovaResult<()> {
        self.conductor
            .instance_system_metadata_update(ctx, inst.uuid, convert_password(password), false)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_cut_into_four_items_and_joined_back() {
        let long: String = "x".repeat(300) + "yz";
        let items = convert_password(&long);
        assert_eq!(items.len(), 4);
        assert_eq!(items["password_0"].len(), 255);
        assert_eq!(items["password_1"], "x".repeat(45) + "yz");
        assert_eq!(items["password_2"], "");
        assert_eq!(extract_password(&items), long);
        let cleared = convert_password("");
        assert!(cleared.values().all(String::is_empty));
        assert_eq!(extract_password(&cleared), "");
        let mut other = BTreeMap::new();
        other.insert("image_min_ram".to_string(), "0".to_string());
        assert_eq!(extract_password(&other), "");
        assert_eq!(MAX_SIZE, 1020);
    }
}
