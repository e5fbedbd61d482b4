//! The connection table: generational slots, a keyed 4-tuple hash map, and a timer heap with
//! lazy invalidation.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cell::Cell;
use core::cmp::Reverse;
use core::net::SocketAddr;

use hashbrown::HashMap;

use crate::hash::KeyedState;
use crate::tcp::connection::Connection;
use crate::{ConnId, Instant};

/// The 4-tuple that names a connection (RFC 9293 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    conn: Option<Connection>,
    /// The 4-tuple map points here.
    linked: bool,
}

/// What [`ConnTable`] found at the top of its timer heap.
enum Top {
    /// The heap is empty.
    Empty,
    /// The top entry is a connection's true next deadline, not yet due.
    Exact,
    /// The top entry is due: this connection's timers run now.
    Due(u32),
    /// The top entry was stale and has been dropped or moved; look again.
    Moved,
}

/// Connections by slot index and by 4-tuple, with their timers.
#[derive(Debug)]
pub(crate) struct ConnTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_tuple: HashMap<FourTuple, u32, KeyedState>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    live: usize,
    /// The last successful lookup.
    last_hit: Cell<(Option<FourTuple>, u32)>,
}

impl ConnTable {
    pub fn new(hasher: KeyedState) -> ConnTable {
        ConnTable {
            slots: Vec::new(),
            free: Vec::new(),
            by_tuple: HashMap::with_hasher(hasher),
            timers: BinaryHeap::new(),
            live: 0,
            last_hit: Cell::new((None, 0)),
        }
    }

    /// Connections held (any state, tombstones included).
    pub fn len(&self) -> usize {
        self.live
    }

    /// The id the next inserted connection will get.
    pub fn next_id(&self) -> ConnId {
        match self.free.last() {
            Some(&index) => ConnId {
                index,
                generation: self.slots[index as usize].generation,
            },
            None => ConnId {
                index: self.slots.len() as u32,
                generation: 0,
            },
        }
    }

    /// Inserts a connection built with [`ConnTable::next_id`].
    pub fn insert(&mut self, conn: Connection) -> u32 {
        let tuple = FourTuple {
            local: conn.local,
            remote: conn.remote,
        };
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        debug_assert_eq!(conn.id.index, index);
        self.slots[index as usize].conn = Some(conn);
        self.slots[index as usize].linked = true;
        self.by_tuple.insert(tuple, index);
        self.live += 1;
        index
    }

    /// Frees a slot; its id becomes stale.
    pub fn remove(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        slot.linked = false;
        if let Some(conn) = slot.conn.take() {
            let tuple = FourTuple {
                local: conn.local,
                remote: conn.remote,
            };
            if self.by_tuple.get(&tuple) == Some(&index) {
                self.by_tuple.remove(&tuple);
            }
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(index);
            self.live -= 1;
        }
    }

    /// Takes a connection's 4-tuple out of the lookup map (it stays in its slot).
    pub fn unlink(&mut self, index: u32) {
        if let Some(slot) = self.slots.get_mut(index as usize) {
            slot.linked = false;
        }
        if let Some(conn) = self.get(index) {
            let tuple = FourTuple {
                local: conn.local,
                remote: conn.remote,
            };
            if self.by_tuple.get(&tuple) == Some(&index) {
                self.by_tuple.remove(&tuple);
            }
        }
    }

    /// The slot holding `tuple`. The last hit is remembered: a bulk transfer then skips the
    /// keyed hash on every packet (the remembered slot is checked, never trusted).
    pub fn lookup(&self, tuple: &FourTuple) -> Option<u32> {
        let (cached, index) = self.last_hit.get();
        if cached == Some(*tuple) {
            if let Some(c) = self.get(index) {
                if c.local == tuple.local && c.remote == tuple.remote && self.linked(index) {
                    return Some(index);
                }
            }
        }
        let found = self.by_tuple.get(tuple).copied();
        if let Some(index) = found {
            self.last_hit.set((Some(*tuple), index));
        }
        found
    }

    /// Whether the slot is the one the 4-tuple map points at (not an unlinked tombstone).
    fn linked(&self, index: u32) -> bool {
        self.slots.get(index as usize).is_some_and(|s| s.linked)
    }

    pub fn get(&self, index: u32) -> Option<&Connection> {
        self.slots.get(index as usize)?.conn.as_ref()
    }

    pub fn get_mut(&mut self, index: u32) -> Option<&mut Connection> {
        self.slots.get_mut(index as usize)?.conn.as_mut()
    }

    /// The slot of `id` if it is current.
    pub fn resolve(&self, id: ConnId) -> Option<u32> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation && slot.conn.is_some()).then_some(id.index)
    }

    /// Keeps the heap's entry for a connection at or before its next deadline. A deadline
    /// that moves later (the RTO after every ACK) costs nothing here: the early entry stays,
    /// and is moved when it reaches the top of the heap ([`ConnTable::prune`],
    /// [`ConnTable::pop_due`]). Only a deadline earlier than the entry pushes a new one.
    pub fn reschedule(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let generation = slot.generation;
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        let Some(deadline) = conn.next_deadline() else {
            return;
        };
        if conn.scheduled.is_none_or(|s| deadline < s) {
            conn.scheduled = Some(deadline);
            self.timers.push(Reverse((deadline, index, generation)));
        }
    }

    /// Looks at the top entry: due by `now` for real, exact and not due, or stale (dropped,
    /// or moved to the connection's true, later deadline).
    fn settle_top(&mut self, now: Option<Instant>) -> Top {
        let Some(&Reverse((d, index, generation))) = self.timers.peek() else {
            return Top::Empty;
        };
        let current = self.is_current(d, index, generation);
        let actual = if current {
            self.get(index).and_then(Connection::next_deadline)
        } else {
            None
        };
        if current && actual == Some(d) {
            if now.is_some_and(|n| d <= n) {
                self.timers.pop();
                if let Some(conn) = self.get_mut(index) {
                    conn.scheduled = None;
                }
                return Top::Due(index);
            }
            return Top::Exact;
        }
        self.timers.pop();
        if current {
            if let Some(conn) = self.get_mut(index) {
                conn.scheduled = actual;
            }
            if let Some(a) = actual {
                self.timers.push(Reverse((a, index, generation)));
            }
        }
        Top::Moved
    }

    /// Pops the next connection whose timers are due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<u32> {
        loop {
            match self.settle_top(Some(now)) {
                Top::Moved => continue,
                Top::Due(index) => return Some(index),
                Top::Empty | Top::Exact => return None,
            }
        }
    }

    fn is_current(&self, d: Instant, index: u32, generation: u32) -> bool {
        let Some(slot) = self.slots.get(index as usize) else {
            return false;
        };
        slot.generation == generation && slot.conn.as_ref().is_some_and(|c| c.scheduled == Some(d))
    }

    /// Settles the top of the heap so that [`ConnTable::next_deadline`] is exact.
    pub fn prune(&mut self) {
        while let Top::Moved = self.settle_top(None) {}
    }

    /// The earliest timer deadline (exact after [`ConnTable::prune`]).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((d, _, _))| *d)
    }
}
