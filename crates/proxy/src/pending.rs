//! Connections that have not authenticated yet (with a token: not yet
//! presented it; without one: not yet sent a complete request), bounded
//! per peer address and in total, checked as each connection is accepted,
//! before anything is read.
//!
//! When a cap is reached the *oldest* pending connection (of that peer, or
//! overall) is closed to make room, never the new one: otherwise a process
//! holding the caps full with idle connections would lock out the
//! authenticated client sharing its address (on loopback every local
//! process does). A real client presents its credentials as soon as it
//! has connected, so it is never the oldest for long.
//!
//! The per-peer cap closes a peer's oldest only once that one has waited a
//! grace period: a client opening many connections at once (hundreds of
//! parallel downloads; on loopback all local clients are one peer) sends
//! its requests a little after its connections are accepted, and must not
//! lose them to its own burst. The total cap is hard.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The pending connections and their caps.
pub(crate) struct Pending {
    per_peer: usize,
    total: usize,
    grace: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// By admission order: the first entry is the oldest.
    by_age: BTreeMap<u64, Entry>,
    per_peer: HashMap<IpAddr, usize>,
}

struct Entry {
    peer: IpAddr,
    since: Instant,
    evict: oneshot::Sender<()>,
}

/// Resolves to `Ok(())` when the connection was closed to make room; to
/// an error once it left the pending set (which means nothing).
pub(crate) type Evicted = oneshot::Receiver<()>;

/// A pending connection's place; dropping it (authenticated, or done)
/// frees the place.
pub(crate) struct Slot {
    pending: Arc<Pending>,
    id: u64,
}

impl Slot {
    /// The connection has authenticated: it no longer counts.
    pub(crate) fn authenticated(self) {}
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.pending.lock();
        state.remove(self.id);
    }
}

impl State {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.by_age.remove(&id)?;
        if let Some(n) = self.per_peer.get_mut(&entry.peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&entry.peer);
            }
        }
        Some(entry)
    }

    /// Closes the oldest pending connection (from `peer` only, if given)
    /// if it was admitted no later than `before`; returns whether it did.
    fn evict_oldest(&mut self, peer: Option<IpAddr>, before: Instant) -> bool {
        let oldest = self
            .by_age
            .iter()
            .find(|(_, e)| peer.is_none_or(|p| e.peer == p))
            .filter(|(_, e)| e.since <= before)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.remove(id)) {
            Some(entry) => {
                let _ = entry.evict.send(());
                true
            }
            None => false,
        }
    }

    fn count(&self, peer: IpAddr) -> usize {
        self.per_peer.get(&peer).copied().unwrap_or(0)
    }
}

impl Pending {
    /// Caps of at least one connection per peer and in total; a peer over
    /// its cap loses its oldest once that one has waited `grace`.
    pub(crate) fn new(per_peer: usize, total: usize, grace: Duration) -> Arc<Self> {
        Arc::new(Pending {
            per_peer: per_peer.max(1),
            total: total.max(1),
            grace,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned lock still
        // holds consistent counts.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `peer`, first closing the same peer's
    /// oldest ones while the peer is at its cap and they have waited the
    /// grace period, then the oldest overall if the total is at its cap.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> (Slot, Evicted) {
        self.admit_at(peer, Instant::now())
    }

    fn admit_at(self: &Arc<Self>, peer: IpAddr, now: Instant) -> (Slot, Evicted) {
        let peer = peer.to_canonical();
        let (evict, evicted) = oneshot::channel();
        let mut state = self.lock();
        let waited = now.checked_sub(self.grace).unwrap_or(now);
        while state.count(peer) >= self.per_peer && state.evict_oldest(Some(peer), waited) {}
        while state.by_age.len() >= self.total && state.evict_oldest(None, now) {}
        let id = state.next_id;
        state.next_id += 1;
        state.by_age.insert(
            id,
            Entry {
                peer,
                since: now,
                evict,
            },
        );
        *state.per_peer.entry(peer).or_insert(0) += 1;
        drop(state);
        (
            Slot {
                pending: self.clone(),
                id,
            },
            evicted,
        )
    }

    /// Closes the oldest pending connection, however young (the process
    /// is out of descriptors); returns whether there was one.
    pub(crate) fn evict_oldest_now(&self) -> bool {
        self.lock().evict_oldest(None, Instant::now())
    }

    /// How many connections are pending (from `peer`, if given).
    #[cfg(test)]
    fn count(&self, peer: Option<IpAddr>) -> usize {
        let state = self.lock();
        match peer {
            Some(p) => state.count(p),
            None => state.by_age.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_oldest_of_the_peer_then_the_oldest_overall_makes_room() {
        let p = Pending::new(2, 3, Duration::ZERO);
        let a = ip("127.0.0.1");
        let b = ip("127.0.0.2");
        let (a1, mut a1_ev) = p.admit(a);
        let (_a2, mut a2_ev) = p.admit(a);
        // `a` is at its cap: its own oldest goes, not `b`'s.
        let (_b1, mut b1_ev) = p.admit(b);
        let (_a3, mut a3_ev) = p.admit(a);
        assert_eq!(a1_ev.try_recv(), Ok(()));
        assert!(a2_ev.try_recv().is_err() && b1_ev.try_recv().is_err());
        assert_eq!(
            (p.count(Some(a)), p.count(Some(b)), p.count(None)),
            (2, 1, 3)
        );
        // The total is at its cap: the oldest overall (a2) goes.
        let (_b2, _) = p.admit(b);
        assert_eq!(a2_ev.try_recv(), Ok(()));
        assert!(a3_ev.try_recv().is_err() && b1_ev.try_recv().is_err());
        assert_eq!(p.count(None), 3);
        // An evicted slot dropping later frees nothing twice.
        drop(a1);
        assert_eq!(p.count(None), 3);
    }

    #[test]
    fn authenticated_connections_leave_and_never_count_again() {
        let p = Pending::new(1, 1, Duration::ZERO);
        let v4 = ip("127.0.0.1");
        let (s, mut ev) = p.admit(v4);
        s.authenticated();
        assert_eq!(p.count(None), 0);
        // Leaving closes the channel without a send: not an eviction.
        assert!(matches!(
            ev.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        // A v4-mapped peer counts as its IPv4 address.
        let (_s, mut first) = p.admit(ip("::ffff:127.0.0.1"));
        let (_t, _) = p.admit(v4);
        assert_eq!(first.try_recv(), Ok(()));
        assert_eq!(p.count(Some(v4)), 1);
    }

    #[test]
    fn a_burst_over_the_peer_cap_waits_out_the_grace_then_its_oldest_goes() {
        let p = Pending::new(2, 5, Duration::from_secs(1));
        let a = ip("127.0.0.1");
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // A burst: over the peer's cap, within the grace, nobody is closed.
        let mut burst: Vec<_> = (0..4).map(|i| p.admit_at(a, t0 + ms(i))).collect();
        assert_eq!(p.count(Some(a)), 4);
        assert!(burst.iter_mut().all(|(_, ev)| ev.try_recv().is_err()));
        // The total cap is hard, grace or not: the oldest overall goes.
        let (_s, _) = p.admit_at(ip("127.0.0.2"), t0 + ms(5));
        let (_t, _) = p.admit_at(a, t0 + ms(6));
        assert_eq!(burst[0].1.try_recv(), Ok(()));
        assert_eq!(p.count(None), 5);
        // Once they have waited the grace, the peer's oldest make room
        // until it is under its cap again.
        // (at 1003 ms, those admitted at 1, 2 and 3 ms; not the one at 6 ms).
        let (_u, _) = p.admit_at(a, t0 + ms(1003));
        for (_, ev) in &mut burst[1..] {
            assert_eq!(ev.try_recv(), Ok(()));
        }
        assert_eq!((p.count(Some(a)), p.count(None)), (2, 3));
    }
}
