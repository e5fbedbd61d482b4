//! A minimal in-memory pcap encoder for raw IP packets, to pair with
//! [`Sim::set_capture`](super::Sim::set_capture).

use crate::Instant;
use alloc::vec::Vec;

/// Magic number of a little-endian, nanosecond-resolution pcap file.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_RAW`: each record is a bare IPv4 or IPv6 packet.
const LINKTYPE_RAW: u32 = 101;

/// Accumulates packets as a pcap file (nanosecond timestamps, raw IP link type) in memory.
///
/// Write [`PcapBuffer::as_bytes`] to a `.pcap` file to open it in Wireshark or tcpdump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapBuffer {
    data: Vec<u8>,
    snaplen: u32,
}

impl PcapBuffer {
    /// An empty capture (just the file header) keeping packets whole, up to 65535 bytes.
    pub fn new() -> PcapBuffer {
        PcapBuffer::with_snaplen(65_535)
    }

    /// An empty capture that keeps at most the first `snaplen` bytes of each packet.
    pub fn with_snaplen(snaplen: u32) -> PcapBuffer {
        let mut data = Vec::with_capacity(24);
        data.extend_from_slice(&MAGIC_NANOS.to_le_bytes());
        data.extend_from_slice(&2u16.to_le_bytes()); // version major
        data.extend_from_slice(&4u16.to_le_bytes()); // version minor
        data.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        data.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        data.extend_from_slice(&snaplen.to_le_bytes());
        data.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        PcapBuffer { data, snaplen }
    }

    /// Appends one packet seen at `time`.
    pub fn record(&mut self, time: Instant, packet: &[u8]) {
        let ns = time.as_nanos();
        let secs = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX);
        let nanos = (ns % 1_000_000_000) as u32;
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(self.snaplen);
        self.data.extend_from_slice(&secs.to_le_bytes());
        self.data.extend_from_slice(&nanos.to_le_bytes());
        self.data.extend_from_slice(&incl_len.to_le_bytes());
        self.data.extend_from_slice(&orig_len.to_le_bytes());
        self.data
            .extend_from_slice(packet.get(..incl_len as usize).unwrap_or(packet));
    }

    /// The file so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The file so far, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }
}

impl Default for PcapBuffer {
    /// [`PcapBuffer::new`].
    fn default() -> PcapBuffer {
        PcapBuffer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut pcap = PcapBuffer::with_snaplen(4);
        assert_eq!(pcap.as_bytes().len(), 24);
        pcap.record(Instant::from_nanos(2_000_000_123), &[1, 2, 3, 4, 5, 6]);
        let b = pcap.into_bytes();
        assert_eq!(b.len(), 24 + 16 + 4);
        assert_eq!(&b[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(&b[20..24], &101u32.to_le_bytes());
        assert_eq!(&b[24..28], &2u32.to_le_bytes());
        assert_eq!(&b[28..32], &123u32.to_le_bytes());
        assert_eq!(&b[32..36], &4u32.to_le_bytes());
        assert_eq!(&b[36..40], &6u32.to_le_bytes());
        assert_eq!(&b[40..44], &[1, 2, 3, 4]);
    }
}
