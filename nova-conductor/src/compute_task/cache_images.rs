//! Image pre-caching on an aggregate's hosts (Nova's `cache_images`,
//! microversion 2.81): every host of the aggregate whose nova-compute is
//! up is asked, all at once, to cache the images; a host that is down is
//! skipped. The outcome is logged as Nova's conductor does, per image and
//! in all.

use super::ComputeTaskManager;
use chrono::Utc;
use nova_common::RequestContext;
use nova_objects::Aggregate;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Per status (`cached`, `existing`, `error`, `unsupported`, `skipped`),
/// how many hosts answered it, per image.
type Tally = BTreeMap<String, BTreeMap<String, usize>>;

impl ComputeTaskManager {
    pub(crate) async fn cache_images_on(
        &self,
        ctx: &RequestContext,
        aggregate: &Aggregate,
        image_ids: &[String],
    ) {
        let started = Instant::now();
        info!(
            images = %image_ids.join(","),
            hosts = aggregate.hosts.len(),
            aggregate = %aggregate.name,
            "preparing to request pre-caching of images"
        );
        let services = match self.db.service_get_all().await {
            Ok(s) => s,
            Err(e) => {
                warn!(aggregate = %aggregate.name, "cannot pre-cache images: {e}");
                return;
            }
        };
        let down_time = self.cfg.default.service_down_time;
        let up = |host: &str| {
            services.iter().any(|s| {
                s.host == host && s.binary == "nova-compute" && s.is_up(Utc::now(), down_time)
            })
        };
        let long = Duration::from_secs(self.cfg.default.long_rpc_timeout);
        let asks = aggregate.hosts.iter().map(|host| {
            let compute = self.compute.to_server(host).with_timeout(long);
            let is_up = up(host);
            async move {
                if !is_up {
                    info!(%host, "skipping image pre-cache request to a compute host that is not up");
                    return (host, None);
                }
                (host, Some(compute.cache_images(ctx, image_ids.to_vec()).await))
            }
        });
        let every = |status: &str| -> BTreeMap<String, String> {
            image_ids
                .iter()
                .map(|i| (i.clone(), status.to_string()))
                .collect()
        };
        let mut tally = Tally::new();
        for (host, result) in futures_util::future::join_all(asks).await {
            let per_image = match result {
                None => every("skipped"),
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    warn!(%host, "image pre-cache request failed: {e}");
                    every("error")
                }
            };
            info!(%host, results = ?per_image, "image pre-cache results of a host");
            for (image, status) in per_image {
                *tally.entry(image).or_default().entry(status).or_default() += 1;
            }
        }
        let count = |status: &str| -> usize {
            tally
                .values()
                .map(|t| t.get(status).copied().unwrap_or(0))
                .sum()
        };
        info!(
            images = %image_ids.join(","),
            secs = started.elapsed().as_secs_f64(),
            cached = count("cached"),
            existing = count("existing"),
            errors = count("error"),
            unsupported = count("unsupported"),
            skipped = count("skipped"),
            "image pre-cache operation completed"
        );
        for (image, t) in &tally {
            if let Some(n) = t.get("error") {
                warn!(%image, hosts = n, "image failed to pre-cache on some hosts");
            }
        }
    }
}
