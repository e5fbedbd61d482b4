//! The byte queues of a connection, built on the `bytes` crate: the send queue (unacknowledged
//! and unsent data) and the receive queue (in-order data the application has not read), both
//! rings over a `BytesMut`, and the out-of-order reassembly queue of `Bytes` chunks.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use super::seq::SeqNumber;

/// A bounded FIFO of bytes: `push` at the tail, `consume` at the head, copies out by offset.
///
/// A ring over one allocation, so bytes never move once queued (a queue that shifted its
/// contents to the front would copy the whole window again every time the tail reached the
/// end). The ring's storage is written only by appending until it first wraps, so no byte is
/// ever zero-filled. It is allocated on first use, grows by doubling up to the limit, and is
/// released once the queue drains, so an idle connection holds none; the next allocation
/// starts at the size the ring had reached, so a busy queue that drains often does not grow
/// again from nothing each time.
#[derive(Debug, Default)]
pub struct ByteQueue {
    /// The ring: `ring.len()` bytes are in use as the ring (it only grows, by appending, up to
    /// `ring.capacity()`); empty while nothing is held.
    ring: BytesMut,
    /// Index of the first byte held.
    head: u32,
    /// Bytes held.
    len: u32,
    /// The size limit.
    capacity: u32,
    /// The allocation the ring had reached when it was last released.
    last_size: u32,
}

/// The smallest allocation of a queue (or the limit, if smaller). A first allocation is no
/// larger than the first write needs, so a request or response of a few hundred bytes costs
/// a small, cheap allocation.
const MIN_RING: usize = 256;

impl ByteQueue {
    /// An empty queue that holds at most `capacity` bytes (up to 4 GiB). Allocates nothing
    /// yet.
    pub fn new(capacity: usize) -> ByteQueue {
        ByteQueue {
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
            ..ByteQueue::default()
        }
    }
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// Whether the queue holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The size limit.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }
    /// Room left before the limit.
    pub fn free(&self) -> usize {
        (self.capacity - self.len) as usize
    }
    /// Bytes of heap held right now.
    pub fn allocated(&self) -> usize {
        self.ring.capacity()
    }
    /// The ring index of the byte `offset` bytes after the head (`offset` < the ring's size).
    fn at(&self, offset: usize) -> usize {
        let i = self.head as usize + offset;
        if i >= self.ring.len() {
            i - self.ring.len()
        } else {
            i
        }
    }
    /// Moves the bytes held into a new allocation of at least `need` bytes (doubling, never
    /// past the limit), in order from its start.
    fn grow(&mut self, need: usize) {
        let size = need
            .max(self.ring.capacity() * 2)
            .max(self.last_size as usize)
            .max(MIN_RING)
            .min(self.capacity as usize);
        let mut ring = BytesMut::with_capacity(size);
        let (a, b) = self.pieces(0, self.len as usize);
        ring.extend_from_slice(a);
        ring.extend_from_slice(b);
        self.ring = ring;
        self.head = 0;
    }
    /// Appends as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        if self.len as usize + n > self.ring.capacity() {
            self.grow(self.len as usize + n);
        }
        let mut rest = &data[..n];
        while !rest.is_empty() {
            let (head, len, size) = (self.head as usize, self.len as usize, self.ring.len());
            let k = if head + len == size && size < self.ring.capacity() {
                // Contiguous up to the end of what the ring uses, and the allocation has room:
                // the ring grows by appending.
                let k = rest.len().min(self.ring.capacity() - size);
                self.ring.extend_from_slice(&rest[..k]);
                k
            } else {
                // Write into the ring between the tail and the head (wrapping at its end).
                let tail = self.at(len);
                let room = if tail >= head {
                    size - tail
                } else {
                    head - tail
                };
                let k = rest.len().min(room);
                self.ring[tail..tail + k].copy_from_slice(&rest[..k]);
                k
            };
            // Within the limit, a u32; the ring never runs out of room here (`grow` above).
            debug_assert!(k > 0, "byte queue ring out of room");
            if k == 0 {
                break;
            }
            self.len += k as u32;
            rest = &rest[k..];
        }
        n - rest.len()
    }
    /// Drops `n` bytes from the head (clamped to the length).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len as usize);
        if n == self.len as usize {
            // Release the memory of idle connections.
            self.last_size = self.ring.capacity() as u32;
            self.ring = BytesMut::new();
            self.head = 0;
            self.len = 0;
            return;
        }
        self.head = self.at(n) as u32;
        self.len -= n as u32;
    }
    /// The bytes `offset..offset + n` (clamped to what is held) as two slices: up to the end
    /// of the ring, and from its start.
    fn pieces(&self, offset: usize, n: usize) -> (&[u8], &[u8]) {
        let n = n.min((self.len as usize).saturating_sub(offset));
        if n == 0 {
            return (&[], &[]);
        }
        let start = self.at(offset);
        let first = n.min(self.ring.len() - start);
        (&self.ring[start..start + first], &self.ring[..n - first])
    }
    /// Copies the bytes from `offset` on into `out` (as many as are held and fit); returns
    /// how many.
    pub fn copy_out(&self, offset: usize, out: &mut [u8]) -> usize {
        let (a, b) = self.pieces(offset, out.len());
        out[..a.len()].copy_from_slice(a);
        out[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }
    /// Copies up to `out.len()` bytes from the head into `out` and consumes them.
    pub fn read_into(&mut self, out: &mut [u8]) -> usize {
        let n = self.copy_out(0, out);
        self.consume(n);
        n
    }
}

/// Out-of-order segments waiting for the gap before them to fill (RFC 9293 §3.10.7.4, "segment
/// text"). Holds disjoint chunks in a B-tree keyed by their offset from a base at or before
/// RCV.NXT, so an insert costs O(log n) however many segments are held. The memory bound
/// charges each chunk its length plus [`CHUNK_OVERHEAD`], so tiny segments cannot exhaust memory.
#[derive(Debug, Default)]
pub struct ReassemblyQueue {
    chunks: BTreeMap<u32, Bytes>,
    base: SeqNumber,
    // Counts in 32 bits (a receive window is at most 1 GiB, RFC 7323 §2.3): a connection
    // holds one of these even when idle.
    bytes: u32,
    charged: u32,
    limit: u32,
}

/// Bookkeeping bytes charged per held chunk on top of its payload.
pub const CHUNK_OVERHEAD: usize = 64;

/// Rebase the offsets once the base lags RCV.NXT by this much, long before they could wrap.
const REBASE_AFTER: u32 = 1 << 30;

/// Result of [`ReassemblyQueue::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Some new bytes were stored.
    Stored,
    /// Everything was already held.
    Duplicate,
    /// The memory bound was hit; nothing was stored.
    Full,
}

impl ReassemblyQueue {
    /// An empty queue holding at most `limit` bytes (payload plus per-chunk overhead).
    pub fn new(limit: usize) -> ReassemblyQueue {
        ReassemblyQueue {
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            ..ReassemblyQueue::default()
        }
    }
    /// Payload bytes held.
    pub fn len(&self) -> usize {
        self.bytes as usize
    }
    /// Whether no out-of-order data is held.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
    /// The held data as maximal contiguous (start, end) ranges, in sequence order.
    pub fn ranges(&self) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        let mut iter = self
            .chunks
            .iter()
            .map(|(k, b)| (self.base + *k, self.base + *k + b.len()));
        let mut current = iter.next();
        core::iter::from_fn(move || {
            let (start, mut end) = current?;
            loop {
                match iter.next() {
                    Some((s, e)) if s == end => end = e,
                    next => {
                        current = next;
                        return Some((start, end));
                    }
                }
            }
        })
    }

    /// Stores the parts of `data` (starting at `seq`, after `rcv_nxt`) not already held.
    /// The caller trims to the receive window first.
    pub fn insert(&mut self, rcv_nxt: SeqNumber, seq: SeqNumber, data: &[u8]) -> InsertOutcome {
        if data.is_empty() || seq < rcv_nxt {
            return InsertOutcome::Duplicate;
        }
        if self.chunks.is_empty() {
            self.base = rcv_nxt;
        }
        let start = seq.since(self.base);
        let end = start + data.len() as u32;
        // The uncovered pieces of [start, end): after the chunk that begins at or before
        // `start`, and between the chunks that begin inside it.
        let mut pieces: Vec<(u32, u32)> = Vec::new();
        let mut cursor = start;
        if let Some((k, b)) = self.chunks.range(..=start).next_back() {
            cursor = cursor.max(k + b.len() as u32);
        }
        for (k, b) in self.chunks.range(start..end) {
            if *k > cursor {
                pieces.push((cursor, *k));
            }
            cursor = cursor.max(k + b.len() as u32);
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        if pieces.is_empty() {
            return InsertOutcome::Duplicate;
        }
        let new_bytes: usize = pieces.iter().map(|(s, e)| (e - s) as usize).sum();
        let new_charge = new_bytes + pieces.len() * CHUNK_OVERHEAD;
        if self.charged as usize + new_charge > self.limit as usize {
            return InsertOutcome::Full;
        }
        for (s, e) in pieces {
            let off = (s - start) as usize;
            let chunk = Bytes::copy_from_slice(&data[off..off + (e - s) as usize]);
            self.chunks.insert(s, chunk);
        }
        // Both stay within `limit`, a u32.
        self.bytes += new_bytes as u32;
        self.charged += new_charge as u32;
        InsertOutcome::Stored
    }

    /// Removes the data that now starts at or before `rcv_nxt`, handing each piece that
    /// begins exactly at the advancing receive point to `deliver`; returns the new RCV.NXT.
    pub fn pop_ready(
        &mut self,
        mut rcv_nxt: SeqNumber,
        mut deliver: impl FnMut(&[u8]),
    ) -> SeqNumber {
        while let Some(entry) = self.chunks.first_entry() {
            let start = self.base + *entry.key();
            if start > rcv_nxt {
                break;
            }
            let chunk = entry.remove();
            let skip = rcv_nxt.since(start) as usize;
            if skip < chunk.len() {
                deliver(&chunk[skip..]);
                rcv_nxt = start + chunk.len();
            }
            let len = chunk.len() as u32;
            self.bytes -= len;
            self.charged -= len + CHUNK_OVERHEAD as u32;
        }
        if self.chunks.is_empty() {
            self.base = rcv_nxt;
        } else if rcv_nxt.since(self.base) > REBASE_AFTER {
            let delta = rcv_nxt.since(self.base);
            let old = core::mem::take(&mut self.chunks);
            self.chunks = old.into_iter().map(|(k, b)| (k - delta, b)).collect();
            self.base = rcv_nxt;
        }
        rcv_nxt
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.chunks = BTreeMap::new();
        self.bytes = 0;
        self.charged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_queue_bounds_and_releases() {
        let mut q = ByteQueue::new(10);
        assert_eq!(q.push(b"hello world"), 10);
        assert_eq!(q.free(), 0);
        let mut out = [0u8; 8];
        assert_eq!(q.copy_out(6, &mut out), 4);
        assert_eq!(&out[..4], b"worl");
        q.consume(5);
        assert_eq!(q.read_into(&mut out), 5);
        assert_eq!(&out[..5], b" worl");
        assert_eq!(q.allocated(), 0);
    }

    /// Bytes come out in order and at the right offsets however the ring wraps and grows.
    #[test]
    fn byte_queue_wraps_and_grows_in_order() {
        let mut q = ByteQueue::new(10_000);
        let mut model = alloc::collections::VecDeque::new();
        let mut next = 0u8;
        let mut out = alloc::vec![0u8; 10_000];
        for step in 0..2000usize {
            let want = (step * 7919) % 1500;
            let data: Vec<u8> = (0..want)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            let n = q.push(&data);
            assert_eq!(n, want.min(10_000 - model.len()));
            model.extend(&data[..n]);
            assert_eq!(q.len(), model.len());
            let offset = (step * 31) % (model.len() + 1);
            let k = q.copy_out(offset, &mut out[..700]);
            assert_eq!(k, (model.len() - offset).min(700));
            assert!(out[..k].iter().eq(model.range(offset..offset + k)));
            let drop = (step * 13) % 1700;
            q.consume(drop);
            for _ in 0..drop.min(model.len()) {
                model.pop_front();
            }
            assert!(q.allocated() <= 10_000);
        }
    }

    #[test]
    fn reassembly_fills_gaps_once() {
        let mut r = ReassemblyQueue::new(1000);
        let base = SeqNumber(u32::MAX - 3);
        assert_eq!(r.insert(base, base + 4u32, b"efgh"), InsertOutcome::Stored);
        assert_eq!(
            r.insert(base, base + 2u32, b"cdefghij"),
            InsertOutcome::Stored
        );
        assert_eq!(r.insert(base, base + 4u32, b"ef"), InsertOutcome::Duplicate);
        assert_eq!(r.len(), 8);
        assert_eq!(
            r.ranges().collect::<Vec<_>>(),
            [(base + 2u32, base + 10u32)]
        );
        let mut got = Vec::new();
        // Nothing is ready until the gap at `base` fills.
        assert_eq!(r.pop_ready(base, |d| got.extend_from_slice(d)), base);
        assert!(got.is_empty());
        let next = r.pop_ready(base + 3u32, |d| got.extend_from_slice(d));
        assert_eq!(got, b"defghij");
        assert_eq!(next, base + 10u32);
        assert!(r.is_empty());
    }

    #[test]
    fn reassembly_respects_limit() {
        let mut r = ReassemblyQueue::new(4 + CHUNK_OVERHEAD);
        let nxt = SeqNumber(5);
        assert_eq!(r.insert(nxt, SeqNumber(10), b"abcde"), InsertOutcome::Full);
        assert_eq!(r.insert(nxt, SeqNumber(10), b"abcd"), InsertOutcome::Stored);
        assert_eq!(r.insert(nxt, SeqNumber(20), b"x"), InsertOutcome::Full);
    }
}
