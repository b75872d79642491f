//! nova-api's copy of the instances of its recent listings, so that a
//! listing asked again (clients poll `servers/detail`) has the conductor
//! send only the instances that changed since.
//!
//! Never stale: every instance is filed under its *generation*, a number
//! PostgreSQL changes (by trigger, migration 0015) in the same transaction
//! as any write to the instance or to anything a server body shows of it.
//! A listing sends the conductor the generations it holds of the instances
//! the same query listed last time (`instance_get_all_by_filters_known`);
//! the conductor reads the page's current generations and sends back in
//! full every instance whose generation is not the one held. Who may see
//! what is the conductor's page query's business, as without the copy: the
//! copy only saves reading and sending an instance's body again.
//!
//! An instance is kept with the attributes it was read with
//! (`expected_attrs`); it stands in for a read that wants no more than
//! those. Bounded: at most `capacity` instances (what the last listing
//! brought survives a trim) and [`MAX_QUERIES`] remembered queries.

use foldhash::HashMap;
use nova_objects::{Instance, InstanceAttr, ListedInstance};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// How many distinct listing queries are remembered.
pub const MAX_QUERIES: usize = 256;

struct Entry {
    generation: i64,
    /// What was read with it (`None`: everything).
    attrs: Option<Vec<InstanceAttr>>,
    instance: Arc<Instance>,
}

impl Entry {
    /// Whether this copy has every attribute a read of `wanted` brings.
    fn covers(&self, wanted: Option<&[InstanceAttr]>) -> bool {
        match (&self.attrs, wanted) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(have), Some(want)) => want.iter().all(|a| have.contains(a)),
        }
    }
}

#[derive(Default)]
struct State {
    instances: HashMap<Uuid, Entry>,
    /// A query (its filters, as JSON text) -> the uuids it listed last.
    queries: HashMap<String, Vec<Uuid>>,
}

/// What a listing holds already: the generations to send, and the copies
/// themselves (taken now, so that a trim meanwhile cannot lose them).
#[derive(Default)]
pub struct Held {
    pub known: Vec<(Uuid, i64)>,
    copies: HashMap<Uuid, (i64, Arc<Instance>)>,
}

pub struct InstanceCache {
    capacity: usize,
    state: Mutex<State>,
}

impl InstanceCache {
    pub fn new(capacity: usize) -> Self {
        InstanceCache {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What is held of the instances `query` listed last time, as read with
    /// at least `wanted`.
    pub fn held(&self, query: &str, wanted: Option<&[InstanceAttr]>) -> Held {
        let state = self.lock();
        let mut held = Held::default();
        for uuid in state.queries.get(query).into_iter().flatten() {
            if let Some(e) = state.instances.get(uuid).filter(|e| e.covers(wanted)) {
                held.known.push((*uuid, e.generation));
                held.copies
                    .insert(*uuid, (e.generation, Arc::clone(&e.instance)));
            }
        }
        held
    }

    /// The page the conductor answered, in its order: each instance sent
    /// is filed under its generation (read with `attrs`), each one not sent
    /// is the copy `held` has. None when the answer names a copy not held
    /// (a conductor answering another question): the caller reads again.
    pub fn resolve(
        &self,
        query: String,
        attrs: Option<&[InstanceAttr]>,
        held: Held,
        listed: Vec<ListedInstance>,
    ) -> Option<Vec<Arc<Instance>>> {
        let mut page = Vec::with_capacity(listed.len());
        let mut fresh = Vec::new();
        for l in listed {
            match l.instance {
                Some(i) => {
                    let i: Arc<Instance> = Arc::from(i);
                    fresh.push((l.uuid, l.generation, Arc::clone(&i)));
                    page.push(i);
                }
                None => match held.copies.get(&l.uuid) {
                    Some((g, i)) if *g == l.generation => page.push(Arc::clone(i)),
                    _ => return None,
                },
            }
        }
        let mut state = self.lock();
        for (uuid, generation, instance) in fresh {
            state.instances.insert(
                uuid,
                Entry {
                    generation,
                    attrs: attrs.map(<[InstanceAttr]>::to_vec),
                    instance,
                },
            );
        }
        let uuids: Vec<Uuid> = page.iter().map(|i| i.uuid).collect();
        if state.instances.len() > self.capacity {
            // Over the bound: keep only this page's.
            state.instances.retain(|u, _| uuids.contains(u));
            state.queries.clear();
        }
        if state.queries.len() >= MAX_QUERIES && !state.queries.contains_key(&query) {
            state.queries.clear();
        }
        state.queries.insert(query, uuids);
        Some(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(n: u128, name: &str) -> Instance {
        Instance {
            uuid: Uuid::from_u128(n),
            display_name: name.into(),
            ..Default::default()
        }
    }

    fn sent(n: u128, generation: i64, name: &str) -> ListedInstance {
        ListedInstance {
            uuid: Uuid::from_u128(n),
            generation,
            instance: Some(Box::new(inst(n, name))),
        }
    }

    fn kept(n: u128, generation: i64) -> ListedInstance {
        ListedInstance {
            uuid: Uuid::from_u128(n),
            generation,
            instance: None,
        }
    }

    fn names(page: &[Arc<Instance>]) -> Vec<&str> {
        page.iter().map(|i| i.display_name.as_str()).collect()
    }

    const DETAIL: &[InstanceAttr] = &[InstanceAttr::Flavor, InstanceAttr::Metadata];

    #[test]
    fn a_query_asked_again_sends_what_it_holds_and_takes_back_its_copies() {
        let c = InstanceCache::new(100);
        let held = c.held("q", Some(DETAIL));
        assert!(held.known.is_empty());
        let page = c
            .resolve(
                "q".into(),
                Some(DETAIL),
                held,
                vec![sent(1, 5, "a"), sent(2, 7, "b")],
            )
            .unwrap();
        assert_eq!(names(&page), ["a", "b"]);

        let held = c.held("q", Some(DETAIL));
        let mut known = held.known.clone();
        known.sort();
        assert_eq!(known, [(Uuid::from_u128(1), 5), (Uuid::from_u128(2), 7)]);
        // 2 changed (generation 8), 3 is new, 1 is as held.
        let page = c
            .resolve(
                "q".into(),
                Some(DETAIL),
                held,
                vec![sent(3, 1, "c"), kept(1, 5), sent(2, 8, "b2")],
            )
            .unwrap();
        assert_eq!(names(&page), ["c", "a", "b2"]);
        let held = c.held("q", Some(DETAIL));
        assert!(held.known.contains(&(Uuid::from_u128(2), 8)));
        assert!(held.known.contains(&(Uuid::from_u128(3), 1)));
    }

    #[test]
    fn other_queries_and_reads_of_more_attributes_hold_nothing() {
        let c = InstanceCache::new(100);
        let held = c.held("q", Some(DETAIL));
        c.resolve("q".into(), Some(DETAIL), held, vec![sent(1, 5, "a")])
            .unwrap();
        assert!(c.held("other", Some(DETAIL)).known.is_empty());
        assert!(c.held("q", None).known.is_empty());
        let more = [
            InstanceAttr::Flavor,
            InstanceAttr::Metadata,
            InstanceAttr::Tags,
        ];
        assert!(c.held("q", Some(&more)).known.is_empty());
        // ... fewer attributes than it was read with: it serves.
        assert_eq!(c.held("q", Some(&[InstanceAttr::Flavor])).known.len(), 1);
    }

    #[test]
    fn an_answer_naming_a_copy_not_held_or_at_another_generation_is_refused() {
        let c = InstanceCache::new(100);
        let held = c.held("q", Some(DETAIL));
        c.resolve("q".into(), Some(DETAIL), held, vec![sent(1, 5, "a")])
            .unwrap();
        let held = c.held("q", Some(DETAIL));
        assert!(c
            .resolve("q".into(), Some(DETAIL), held, vec![kept(1, 6)])
            .is_none());
        let held = c.held("q", Some(DETAIL));
        assert!(c
            .resolve("q".into(), Some(DETAIL), held, vec![kept(2, 5)])
            .is_none());
    }

    #[test]
    fn over_capacity_only_the_last_page_stays() {
        let c = InstanceCache::new(3);
        let held = c.held("q1", None);
        c.resolve(
            "q1".into(),
            None,
            held,
            vec![sent(1, 1, "a"), sent(2, 1, "b")],
        )
        .unwrap();
        let held = c.held("q2", None);
        let page = c
            .resolve(
                "q2".into(),
                None,
                held,
                vec![sent(3, 1, "c"), sent(4, 1, "d")],
            )
            .unwrap();
        assert_eq!(names(&page), ["c", "d"]);
        assert!(c.held("q1", None).known.is_empty());
        assert_eq!(c.held("q2", None).known.len(), 2);
        assert_eq!(c.lock().instances.len(), 2);
    }
}
