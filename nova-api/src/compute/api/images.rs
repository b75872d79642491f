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
        self.image_api.delete(ctx, image_id).await?;
        self.image_cache.forget(image_id);
        Ok(())
    }

    /// The image a server is created from: from the short-lived cache
    /// ([`image_meta_cache`](super::image_meta_cache)) when this project saw
    /// it active within `[glance] image_metadata_cache_time`, else from Glance.
    pub(super) async fn image_for_create(
        &self,
        ctx: &RequestContext,
        image_href: &str,
    ) -> NovaResult<ImageMeta> {
        let project = ctx.project_id.as_deref();
        if let Some(image) = self.image_cache.get(image_href, project, ctx.is_admin) {
            return Ok(image);
        }
        let image = self.image_api.show(ctx, image_href).await?;
        self.image_cache
            .put(image_href, project, ctx.is_admin, &image);
        Ok(image)
    }
}
