//! Nova's `nova/api/openstack/identity.py`: a project id named in a
//! request (a quota set's, a flavor's access list's) must be one Keystone
//! knows, else 400, so a typo creates nothing. Asked with the caller's own
//! token; when Keystone cannot tell (the caller may not read the project,
//! Keystone is unreachable, or the cloud runs without Keystone) the id is
//! taken as valid, as Nova's.

use crate::error::{ApiError, ApiResult};
use crate::layers::auth::AuthStrategy;
use crate::AppState;
use nova_clients::keystone::ProjectLookup;
use nova_common::RequestContext;
use tracing::info;

pub async fn verify_project_id(
    state: &AppState,
    ctx: &RequestContext,
    project_id: &str,
) -> ApiResult<()> {
    let (AuthStrategy::Keystone(keystone), Some(token)) = (&state.auth, &ctx.auth_token) else {
        return Ok(());
    };
    match keystone.lookup_project(token, project_id).await {
        ProjectLookup::Exists => Ok(()),
        ProjectLookup::Missing => Err(ApiError::bad_request(format!(
            "Project ID {project_id} is not a valid project."
        ))),
        ProjectLookup::Unknown(why) => {
            info!(
                project_id,
                "cannot verify the project id ({why}); taken as valid"
            );
            Ok(())
        }
    }
}
