//! The connection table: generational slots, a keyed 4-tuple hash map, and a timer heap with
//! lazy invalidation.

use alloc::boxed::Box;
use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cell::Cell;
use core::cmp::Reverse;
use core::net::{IpAddr, SocketAddr};

use core::hash::{BuildHasher, Hash, Hasher};

use hashbrown::HashTable;

use crate::hash::KeyedState;
use crate::tcp::connection::Connection;
use crate::time::Deadline;
use crate::{ConnId, Instant};

/// The 4-tuple that names a connection (RFC 9293 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl Hash for FourTuple {
    /// Addresses and ports in one write (the keyed hasher takes whole words at a time). Equal
    /// tuples write equal bytes; the IPv6 flow label and scope are left out, which keeps
    /// that true.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut buf = [0u8; 36];
        let mut n = 0;
        for addr in [self.local, self.remote] {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    buf[n..n + 4].copy_from_slice(&ip.octets());
                    n += 4;
                }
                IpAddr::V6(ip) => {
                    buf[n..n + 16].copy_from_slice(&ip.octets());
                    n += 16;
                }
            }
        }
        buf[n..n + 2].copy_from_slice(&self.local.port().to_le_bytes());
        buf[n + 2..n + 4].copy_from_slice(&self.remote.port().to_le_bytes());
        state.write(&buf[..n + 4]);
    }
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    conn: Option<Connection>,
    /// The 4-tuple map points here.
    linked: bool,
}

/// Slots kept in fixed-size chunks: the table holds at most one partly used chunk beyond the
/// slots in use, where a vector that doubles would hold up to twice as many (at a million
/// connections of about 900 bytes, that is the difference between a few hundred kilobytes
/// and close to a gigabyte).
#[derive(Debug, Default)]
struct Slots {
    chunks: Vec<Box<[Slot; SLOT_CHUNK]>>,
    len: usize,
}

/// Slots per chunk (a power of two: an index splits with a shift and a mask, and the array
/// type lets the compiler drop the inner bounds check).
const SLOT_CHUNK: usize = 256;

impl Slots {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Option<&Slot> {
        if index >= self.len {
            return None;
        }
        Some(&self.chunks[index / SLOT_CHUNK][index % SLOT_CHUNK])
    }

    fn get_mut(&mut self, index: usize) -> Option<&mut Slot> {
        if index >= self.len {
            return None;
        }
        Some(&mut self.chunks[index / SLOT_CHUNK][index % SLOT_CHUNK])
    }

    /// Adds an empty slot; returns its index.
    fn push(&mut self) -> usize {
        if self.len == self.chunks.len() * SLOT_CHUNK {
            let chunk: Box<[Slot]> = (0..SLOT_CHUNK).map(|_| Slot::default()).collect();
            match chunk.try_into() {
                Ok(chunk) => self.chunks.push(chunk),
                Err(_) => unreachable!("a chunk is built with SLOT_CHUNK slots"),
            }
        }
        self.len += 1;
        self.len - 1
    }
}

impl core::ops::Index<usize> for Slots {
    type Output = Slot;
    fn index(&self, index: usize) -> &Slot {
        &self.chunks[index / SLOT_CHUNK][index % SLOT_CHUNK]
    }
}

impl core::ops::IndexMut<usize> for Slots {
    fn index_mut(&mut self, index: usize) -> &mut Slot {
        &mut self.chunks[index / SLOT_CHUNK][index % SLOT_CHUNK]
    }
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

impl FourTuple {
    /// The 4-tuple of a connection.
    fn of(conn: &Connection) -> FourTuple {
        FourTuple {
            local: conn.local,
            remote: conn.remote,
        }
    }
}

/// Connections by slot index and by 4-tuple, with their timers.
///
/// The 4-tuple index holds only slot numbers (4 bytes a bucket): the key is read from the
/// connection in the slot, so the tuple is stored once per connection.
#[derive(Debug)]
pub(crate) struct ConnTable {
    slots: Slots,
    free: Vec<u32>,
    by_tuple: HashTable<u32>,
    hasher: KeyedState,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    live: usize,
    /// The last successful lookup.
    last_hit: Cell<(Option<FourTuple>, u32)>,
}

impl ConnTable {
    pub fn new(hasher: KeyedState) -> ConnTable {
        ConnTable {
            slots: Slots::default(),
            free: Vec::new(),
            by_tuple: HashTable::new(),
            hasher,
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
        let tuple = FourTuple::of(&conn);
        let index = match self.free.pop() {
            Some(index) => index,
            None => self.slots.push() as u32,
        };
        debug_assert_eq!(conn.id.index, index);
        self.slots[index as usize].conn = Some(conn);
        self.slots[index as usize].linked = true;
        self.link(tuple, index);
        self.live += 1;
        index
    }

    /// Frees a slot; its id becomes stale.
    pub fn remove(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        if slot.conn.is_some() {
            self.unlink(index);
            let slot = &mut self.slots[index as usize];
            slot.conn = None;
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(index);
            self.live -= 1;
        }
    }

    /// Takes a connection's 4-tuple out of the lookup map (it stays in its slot).
    pub fn unlink(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let Some(conn) = slot.conn.as_ref().filter(|_| slot.linked) else {
            return;
        };
        let hash = self.hasher.hash_one(FourTuple::of(conn));
        slot.linked = false;
        if let Ok(entry) = self.by_tuple.find_entry(hash, |&i| i == index) {
            entry.remove();
        }
    }

    /// Points the 4-tuple index at `index` (replacing an older slot with the same tuple).
    fn link(&mut self, tuple: FourTuple, index: u32) {
        if let Some(old) = self.lookup_uncached(&tuple) {
            if let Some(slot) = self.slots.get_mut(old as usize) {
                slot.linked = false;
            }
            let hash = self.hasher.hash_one(tuple);
            if let Ok(entry) = self.by_tuple.find_entry(hash, |&i| i == old) {
                entry.remove();
            }
        }
        let hash = self.hasher.hash_one(tuple);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_tuple.insert_unique(hash, index, |&i| {
            slots[i as usize]
                .conn
                .as_ref()
                .map_or(0, |c| hasher.hash_one(FourTuple::of(c)))
        });
    }

    /// The slot the 4-tuple index holds for `tuple`, without the last-hit cache.
    fn lookup_uncached(&self, tuple: &FourTuple) -> Option<u32> {
        let hash = self.hasher.hash_one(tuple);
        self.by_tuple
            .find(hash, |&i| {
                self.get(i)
                    .is_some_and(|c| c.local == tuple.local && c.remote == tuple.remote)
            })
            .copied()
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
        let found = self.lookup_uncached(tuple);
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
        if conn.scheduled.get().is_none_or(|s| deadline < s) {
            conn.scheduled = Deadline::at(deadline);
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
                    conn.scheduled = Deadline::NONE;
                }
                return Top::Due(index);
            }
            return Top::Exact;
        }
        if current {
            if let Some(conn) = self.get_mut(index) {
                conn.scheduled = actual.into();
            }
        }
        match actual {
            // The deadline moved later: the entry moves down the heap in place (one sift
            // instead of a pop and a push).
            Some(a) if current => {
                if let Some(mut top) = self.timers.peek_mut() {
                    *top = Reverse((a, index, generation));
                }
            }
            _ => {
                self.timers.pop();
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
        slot.generation == generation
            && slot
                .conn
                .as_ref()
                .is_some_and(|c| c.scheduled == Deadline::at(d))
    }

    /// Settles the top of the heap so that [`ConnTable::next_deadline`] is exact, and gives
    /// back the heap's memory once it holds less than a quarter of its capacity (after a burst
    /// of handshakes, a million idle connections run no timer).
    pub fn prune(&mut self) {
        while let Top::Moved = self.settle_top(None) {}
        let (len, capacity) = (self.timers.len(), self.timers.capacity());
        if capacity > 1024 && len < capacity / 4 {
            self.timers.shrink_to(len * 2);
        }
    }

    /// The earliest timer deadline (exact after [`ConnTable::prune`]).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((d, _, _))| *d)
    }
}
