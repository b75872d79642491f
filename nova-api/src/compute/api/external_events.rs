//! Nova's `external_instance_event` as the API decides it: per event, the
//! instance must exist (404) and be on a host (422); a required tag missing
//! is 400. Accepted events would be forwarded to the instance's compute
//! host, but no compute here handles one yet (no Neutron, Cinder or Cyborg
//! sends them), so they are logged and answered 200, as Nova does for the
//! events its compute ignores.

use super::API;
use nova_common::{NovaError, NovaResult, RequestContext};
use tracing::info;
use uuid::Uuid;

/// The events that need a `tag` (Nova's `TAG_REQUIRED`).
const TAG_REQUIRED: &[&str] = &[
    "volume-extended",
    "power-update",
    "accelerator-request-bound",
];

/// One event of a request, as given (the name already checked against the microversion).
pub struct ExternalEvent {
    pub server_uuid: Uuid,
    pub name: String,
    pub status: String,
    pub tag: Option<String>,
}

impl API {
    /// Each event's outcome code (200, 400, 404 or 422), in order.
    pub async fn external_instance_event(
        &self,
        ctx: &RequestContext,
        events: &[ExternalEvent],
    ) -> NovaResult<Vec<u16>> {
        let mut codes = Vec::with_capacity(events.len());
        for ev in events {
            let inst = match self
                .conductor
                .instance_get_by_uuid(ctx, ev.server_uuid)
                .await
            {
                Ok(i) => i,
                Err(NovaError::InstanceNotFound { .. }) => {
                    codes.push(404);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let code = if TAG_REQUIRED.contains(&ev.name.as_str()) && ev.tag.is_none() {
                400
            } else if let Some(host) = &inst.host {
                info!(
                    instance = %ev.server_uuid,
                    "event {}:{} ({}) for the instance on {host}: no handler on the compute host, recorded",
                    ev.name,
                    ev.tag.as_deref().unwrap_or(""),
                    ev.status,
                );
                200
            } else {
                422
            };
            codes.push(code);
        }
        Ok(codes)
    }
}
