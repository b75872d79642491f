//! nova-api's copy of the flavors (`flavor_get_all`), so that flavor lists
//! and lookups (`GET /flavors`, `/flavors/detail`, `/flavors/{id}`, a
//! server create's flavor) do not each ask the conductor.
//!
//! Kept exact, not for a time: it is dropped
//! - by this process right after any flavor write it made (create, delete,
//!   extra specs, access, description), before answering the client;
//! - by every nova-api when the conductor's `flavors_changed` fanout cast
//!   arrives (sent after each flavor write, before the writer's answer), so
//!   another nova-api drops it within the broker's delivery time;
//! - when the broker connection was lost and made again since it was filled
//!   (a cast may have been missed meanwhile).
//!
//! A read that began before a drop does not put its (possibly older) answer
//! back: each fill carries the generation it started under and is kept only
//! if no drop happened since.

use nova_objects::Flavor;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    /// Bumped by every drop.
    generation: u64,
    /// The flavors, with the broker connection epoch they were read under.
    flavors: Option<(u64, Arc<Vec<Flavor>>)>,
}

#[derive(Default)]
pub struct FlavorCache {
    state: Mutex<State>,
}

impl FlavorCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached flavors if they were read under connection `epoch`;
    /// otherwise None and the generation a fill must start under.
    pub fn get(&self, epoch: u64) -> Result<Arc<Vec<Flavor>>, u64> {
        let mut s = self.lock();
        match &s.flavors {
            Some((e, f)) if *e == epoch => Ok(f.clone()),
            Some(_) => {
                s.flavors = None;
                s.generation += 1;
                Err(s.generation)
            }
            None => Err(s.generation),
        }
    }

    /// Keep `flavors`, read under connection `epoch` after [`get`](Self::get)
    /// returned `generation`, unless a drop happened since.
    pub fn fill(&self, generation: u64, epoch: u64, flavors: Arc<Vec<Flavor>>) {
        let mut s = self.lock();
        if s.generation == generation {
            s.flavors = Some((epoch, flavors));
        }
    }

    /// Forget the flavors (a write happened).
    pub fn drop_all(&self) {
        let mut s = self.lock();
        s.flavors = None;
        s.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str) -> Arc<Vec<Flavor>> {
        Arc::new(vec![Flavor {
            name: name.into(),
            ..Default::default()
        }])
    }

    #[test]
    fn a_fill_that_began_before_a_drop_is_not_kept() {
        let c = FlavorCache::default();
        let g = c.get(1).expect_err("empty");
        c.fill(g, 1, one("a"));
        assert_eq!(c.get(1).expect("filled")[0].name, "a");
        // A reader starts, a writer drops, the reader's older answer arrives.
        c.drop_all();
        let g = c.get(1).expect_err("dropped");
        c.drop_all();
        c.fill(g, 1, one("old"));
        assert!(c.get(1).is_err(), "a stale fill was kept");
        let g = c.get(1).expect_err("still empty");
        c.fill(g, 1, one("new"));
        assert_eq!(c.get(1).expect("filled")[0].name, "new");
    }

    #[test]
    fn a_new_broker_connection_drops_what_was_read_before() {
        let c = FlavorCache::default();
        let g = c.get(1).expect_err("empty");
        c.fill(g, 1, one("a"));
        assert!(c.get(2).is_err(), "kept across a reconnect");
        let g = c.get(2).expect_err("dropped");
        c.fill(g, 2, one("b"));
        assert_eq!(c.get(2).expect("filled")[0].name, "b");
    }
}
