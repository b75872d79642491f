//! Key pairs (`key_pairs`).

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::KeyPair;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::KeyPairs for ConductorManager {
    async fn keypair_create(
        &self,
        _ctx: &RequestContext,
        keypair: KeyPair,
    ) -> Result<KeyPair, NovaError> {
        self.db.keypair_create(&keypair).await
    }

    async fn keypair_get(
        &self,
        _ctx: &RequestContext,
        user_id: String,
        name: String,
    ) -> Result<KeyPair, NovaError> {
        retry_on_disconnect("keypair_get", || self.db.keypair_get(&user_id, &name)).await
    }

    async fn keypair_get_all(
        &self,
        _ctx: &RequestContext,
        user_id: String,
    ) -> Result<Vec<KeyPair>, NovaError> {
        retry_on_disconnect("keypair_get_all", || self.db.keypair_get_all(&user_id)).await
    }

    async fn keypair_destroy(
        &self,
        _ctx: &RequestContext,
        user_id: String,
        name: String,
    ) -> Result<(), NovaError> {
        self.db.keypair_destroy(&user_id, &name).await
    }

    async fn keypair_count(
        &self,
        _ctx: &RequestContext,
        user_id: String,
    ) -> Result<i64, NovaError> {
        retry_on_disconnect("keypair_count", || self.db.keypair_count(&user_id)).await
    }
}
