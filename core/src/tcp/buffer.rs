//! The byte queues of a connection, built on the `bytes` crate: the send queue (unacknowledged
//! and unsent data), the receive queue (in-order data the application has not read) and the
//! out-of-order reassembly queue.

use alloc::vec::Vec;
use bytes::{Buf, Bytes, BytesMut};

use super::seq::SeqNumber;

/// A bounded FIFO of bytes: `push` at the tail, `consume` at the head, random reads by offset.
/// Storage is allocated on demand and released once the queue drains.
#[derive(Debug, Default)]
pub struct ByteQueue {
    buf: BytesMut,
    capacity: usize,
}

impl ByteQueue {
    /// An empty queue that holds at most `capacity` bytes. Allocates nothing yet.
    pub fn new(capacity: usize) -> ByteQueue {
        ByteQueue { buf: BytesMut::new(), capacity }
    }
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether the queue holds nothing.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The size limit.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Room left before the limit.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }
    /// Bytes of heap held right now.
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }
    /// Appends as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n > 0 {
            if self.buf.capacity() == 0 {
                // First use: reserve a sensible chunk so small writes do not reallocate.
                self.buf.reserve(self.capacity.min(64 * 1024).max(n));
            }
            self.buf.extend_from_slice(&data[..n]);
        }
        n
    }
    /// Drops `n` bytes from the head (clamped to the length).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            // Release memory of idle connections.
            self.buf = BytesMut::new();
        }
    }
    /// The bytes at `offset..offset+len`, clamped to what is held.
    pub fn slice(&self, offset: usize, len: usize) -> &[u8] {
        let start = offset.min(self.buf.len());
        let end = offset.saturating_add(len).min(self.buf.len());
        &self.buf[start..end]
    }
    /// Copies up to `out.len()` bytes from the head into `out` and consumes them.
    pub fn read_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.consume(n);
        n
    }
}

/// Out-of-order segments waiting for the gap before them to fill (RFC 9293 §3.10.7.4, "segment
/// text"). Holds disjoint ranges sorted by sequence number, bounded in bytes and in ranges.
#[derive(Debug, Default)]
pub struct ReassemblyQueue {
    ranges: Vec<(SeqNumber, Bytes)>,
    bytes: usize,
    limit: usize,
}

/// The most disjoint ranges held; beyond this, new out-of-order segments are dropped.
pub const MAX_RANGES: usize = 64;

/// Result of [`ReassemblyQueue::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Some new bytes were stored.
    Stored,
    /// Everything was already held.
    Duplicate,
    /// The memory or range bound was hit; nothing was stored.
    Full,
}

impl ReassemblyQueue {
    /// An empty queue holding at most `limit` bytes.
    pub fn new(limit: usize) -> ReassemblyQueue {
        ReassemblyQueue { ranges: Vec::new(), bytes: 0, limit }
    }
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes
    }
    /// Whether no out-of-order data is held.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// The held ranges as (start, end) sequence numbers, in order.
    pub fn ranges(&self) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        self.ranges.iter().map(|(s, b)| (*s, *s + b.len()))
    }

    /// Stores the parts of `data` (starting at `seq`) not already held. `seq` must be after the
    /// receive point; the caller trims to the window first.
    pub fn insert(&mut self, seq: SeqNumber, data: &[u8]) -> InsertOutcome {
        if data.is_empty() {
            return InsertOutcome::Duplicate;
        }
        // Collect the uncovered pieces of [seq, seq+len).
        let end = seq + data.len();
        let mut pieces: Vec<(SeqNumber, SeqNumber)> = Vec::new();
        let mut cursor = seq;
        for (s, b) in &self.ranges {
            let e = *s + b.len();
            if e <= cursor {
                continue;
            }
            if *s >= end {
                break;
            }
            if *s > cursor {
                pieces.push((cursor, *s));
            }
            cursor = cursor.max(e);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        if pieces.is_empty() {
            return InsertOutcome::Duplicate;
        }
        let new_bytes: usize = pieces.iter().map(|(s, e)| e.since(*s) as usize).sum();
        if self.bytes + new_bytes > self.limit || self.ranges.len() + pieces.len() > MAX_RANGES {
            return InsertOutcome::Full;
        }
        for (s, e) in pieces {
            let off = s.since(seq) as usize;
            let len = e.since(s) as usize;
            let chunk = Bytes::copy_from_slice(&data[off..off + len]);
            let pos = self.ranges.partition_point(|(rs, _)| *rs < s);
            self.ranges.insert(pos, (s, chunk));
        }
        self.bytes += new_bytes;
        InsertOutcome::Stored
    }

    /// Removes and returns, in order, the data that now starts at or before `rcv_nxt`; the
    /// callback receives each contiguous piece beginning exactly at the advancing receive point.
    pub fn pop_ready(&mut self, mut rcv_nxt: SeqNumber, mut deliver: impl FnMut(&[u8])) -> SeqNumber {
        while let Some((s, b)) = self.ranges.first() {
            if *s > rcv_nxt {
                break;
            }
            let skip = rcv_nxt.since(*s) as usize;
            if skip < b.len() {
                deliver(&b[skip..]);
                rcv_nxt = *s + b.len();
            }
            self.bytes -= b.len();
            self.ranges.remove(0);
        }
        rcv_nxt
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.ranges = Vec::new();
        self.bytes = 0;
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
        assert_eq!(q.slice(6, 100), b"worl");
        q.consume(5);
        let mut out = [0u8; 8];
        assert_eq!(q.read_into(&mut out), 5);
        assert_eq!(&out[..5], b" worl");
        assert_eq!(q.allocated(), 0);
    }

    #[test]
    fn reassembly_fills_gaps_once() {
        let mut r = ReassemblyQueue::new(100);
        let base = SeqNumber(u32::MAX - 3);
        assert_eq!(r.insert(base + 4u32, b"efgh"), InsertOutcome::Stored);
        assert_eq!(r.insert(base + 2u32, b"cdefghij"), InsertOutcome::Stored);
        assert_eq!(r.insert(base + 4u32, b"ef"), InsertOutcome::Duplicate);
        assert_eq!(r.len(), 8);
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
        let mut r = ReassemblyQueue::new(4);
        assert_eq!(r.insert(SeqNumber(10), b"abcde"), InsertOutcome::Full);
        assert_eq!(r.insert(SeqNumber(10), b"abcd"), InsertOutcome::Stored);
        assert_eq!(r.insert(SeqNumber(20), b"x"), InsertOutcome::Full);
    }
}
