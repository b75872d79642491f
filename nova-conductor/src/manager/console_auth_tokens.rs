//! Console authorizations (`console_auth_tokens`). Expiry is judged by the
//! conductor's clock, the one that also purges.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::ConsoleAuthToken;
use uuid::Uuid;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::ConsoleAuthTokens for ConductorManager {
    async fn console_auth_token_create(
        &self,
        _ctx: &RequestContext,
        mut token: ConsoleAuthToken,
        ttl: i64,
    ) -> Result<ConsoleAuthToken, NovaError> {
        if token.token_hash.len() != 64 || !token.token_hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(NovaError::invalid_input(
                "token_hash must be a SHA-256 in hex",
            ));
        }
        token.expires = now() + ttl.max(0);
        self.db.console_auth_token_create(&token).await
    }

    async fn console_auth_token_validate(
        &self,
        _ctx: &RequestContext,
        token_hash: String,
    ) -> Result<ConsoleAuthToken, NovaError> {
        let found = retry_on_disconnect("console_auth_token_validate", || {
            self.db.console_auth_token_get_valid(&token_hash, now())
        })
        .await?;
        // Nova never echoes the token back.
        found.ok_or_else(|| NovaError::InvalidToken {
            token: "***".into(),
        })
    }

    async fn console_auth_token_destroy_all_by_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<(), NovaError> {
        self.db
            .console_auth_token_destroy_all_by_instance(instance_uuid)
            .await
            .map(|_| ())
    }

    async fn console_auth_token_destroy_expired(
        &self,
        _ctx: &RequestContext,
    ) -> Result<i64, NovaError> {
        Ok(self.db.console_auth_token_destroy_expired(now()).await? as i64)
    }
}
