//! A streaming pcap writer for Ethernet frames (`LINKTYPE_ETHERNET`, nanosecond timestamps),
//! readable by tcpdump and Wireshark.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Magic number of a nanosecond-resolution pcap file (written in native byte order, as
/// readers expect).
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`: each record is an Ethernet II frame without FCS.
const LINKTYPE_ETHERNET: u32 = 1;

/// Writes frames to a pcap file as they are recorded.
#[derive(Debug)]
pub struct PcapWriter<W: Write = BufWriter<File>> {
    out: W,
    snaplen: u32,
    records: u64,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (or truncates) `path` and writes the file header; records keep at most
    /// `snaplen` bytes of each frame.
    pub fn create(path: &Path, snaplen: u32) -> io::Result<PcapWriter<BufWriter<File>>> {
        let file = File::create(path)?;
        PcapWriter::new(BufWriter::with_capacity(1 << 20, file), snaplen)
    }
}

impl<W: Write> PcapWriter<W> {
    /// A writer on `out`; writes the file header now.
    pub fn new(mut out: W, snaplen: u32) -> io::Result<PcapWriter<W>> {
        let snaplen = snaplen.max(1);
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&MAGIC_NANOS.to_ne_bytes());
        header.extend_from_slice(&2u16.to_ne_bytes());
        header.extend_from_slice(&4u16.to_ne_bytes());
        header.extend_from_slice(&0i32.to_ne_bytes());
        header.extend_from_slice(&0u32.to_ne_bytes());
        header.extend_from_slice(&snaplen.to_ne_bytes());
        header.extend_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            snaplen,
            records: 0,
        })
    }

    /// Appends `frame`, seen at `time`.
    pub fn record(&mut self, time: SystemTime, frame: &[u8]) -> io::Result<()> {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        let orig = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let incl = orig.min(self.snaplen);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_ne_bytes());
        rec[4..8].copy_from_slice(&since.subsec_nanos().to_ne_bytes());
        rec[8..12].copy_from_slice(&incl.to_ne_bytes());
        rec[12..16].copy_from_slice(&orig.to_ne_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(&frame[..incl as usize])?;
        self.records += 1;
        Ok(())
    }

    /// Frames recorded so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn header_and_records_have_the_pcap_layout() {
        let mut w = PcapWriter::new(Vec::new(), 8).unwrap();
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        w.record(t, &[1, 2, 3]).unwrap();
        w.record(t, &[9; 20]).unwrap();
        assert_eq!(w.records(), 2);
        let b = w.into_inner().unwrap();
        let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
        assert_eq!(u32_at(0), MAGIC_NANOS);
        assert_eq!(u32_at(16), 8, "snaplen");
        assert_eq!(u32_at(20), LINKTYPE_ETHERNET);
        assert_eq!(u32_at(24), 1_700_000_000);
        assert_eq!(u32_at(28), 123_456_789);
        assert_eq!((u32_at(32), u32_at(36)), (3, 3));
        assert_eq!(&b[40..43], &[1, 2, 3]);
        assert_eq!((u32_at(51), u32_at(55)), (8, 20), "truncated to snaplen");
        assert_eq!(b.len(), 24 + 16 + 3 + 16 + 8);
    }
}
