//! The images an API shows and removes (Nova's `self.image_api`, the Glance
//! client, used by the EC2 API's image actions).

use super::API;
use nova_clients::glance::GlanceImage;
use nova_common::{NovaResult, RequestContext};
use nova_objects::ImageMeta;

impl API {
    /// The images the caller can see.
    pub async fn get_all_images(&self, ctx: &RequestContext) -> NovaResult<Vec<GlanceImage>> {
        self.image_api.list(ctx).await
    }

    /// One image the caller can see, or ImageNotFound.
    pub async fn get_image(&self, ctx: &RequestContext, image_id: &str) -> NovaResult<ImageMeta> {
        self.image_api.show(ctx, image_id).await
    }

    /// Delete an image (Glance decides whether the caller may).
    pub async fn delete_image_record(
        &self,
        ctx: &RequestContext,
        image_id: &str,
    ) -> NovaResult<()> {
        self.image_api.delete(ctx, image_id).await
    }
}
