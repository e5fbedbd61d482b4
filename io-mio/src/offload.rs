//! Undoing the kernel's offloads on frames read with `IFF_VNET_HDR`.
//!
//! With `TUNSETOFFLOAD` the kernel may hand the device frames whose TCP checksum is only
//! partial (the pseudo-header sum, `VIRTIO_NET_HDR_F_NEEDS_CSUM`) and TCP "super-frames" of
//! up to 64 KiB that a NIC would cut into MSS-sized segments (`gso_type` TCPv4 / TCPv6).
//! [`Offload::split`] completes checksums and segments, as the NIC would have; or, as
//! configured ([`OffloadConfig`]), hands a super-frame on whole (one TCP segment larger than
//! the MSS, which the stack takes like any other: what Linux's GRO does) and leaves the
//! checksums the kernel vouches for ([`Vouched`]) to a receiver that trusts them, with
//! [`transport_checksum_ok`] for the others.
//!
//! The send side is the reverse: [`Coalescer`] merges runs of TCP segments the stack sends
//! into super-frames with a header asking the kernel for segmentation and checksum offload.
//!
//! The `virtio_net_hdr` (virtio 1.x §5.1.6, legacy layout, little-endian on the
//! little-endian machines Linux's TAP driver defaults to; 10 bytes):
//! `flags: u8, gso_type: u8, hdr_len: u16, gso_size: u16, csum_start: u16, csum_offset: u16`.

use sanstcp::wire::checksum;
use sanstcp::wire::ethernet::ethertype;
use sanstcp::wire::ip_protocol;
use sanstcp::wire::{EthernetRepr, IpRepr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Size of the `virtio_net_hdr` in front of every frame.
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header sum.
const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the host verified the checksum.
const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN` (a flag on top of the type).
const GSO_ECN: u8 = 0x80;

const ETH_LEN: usize = 14;
/// TCP flags that only the last segment of a super-frame keeps.
const FIN_PSH: u8 = 0x01 | 0x08;
/// TCP CWR, which only the first segment keeps.
const CWR: u8 = 0x80;

/// The parsed `virtio_net_hdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHdr {
    /// `VIRTIO_NET_HDR_F_*` flags.
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*` type (with the ECN bit).
    pub gso_type: u8,
    /// Length of the headers (Ethernet + IP + TCP) of a GSO frame; advisory.
    pub hdr_len: u16,
    /// Payload bytes per segment of a GSO frame.
    pub gso_size: u16,
    /// Where checksumming starts, from the start of the Ethernet frame.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Parses the first [`VNET_HDR_LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Option<VnetHdr> {
        let b = bytes.get(..VNET_HDR_LEN)?;
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// Writes the header into the first [`VNET_HDR_LEN`] bytes of `out`.
    pub fn emit(&self, out: &mut [u8; VNET_HDR_LEN]) {
        out[0] = self.flags;
        out[1] = self.gso_type;
        out[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }
}

/// Why a frame from the device could not be turned into plain frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// Shorter than the `virtio_net_hdr`.
    Truncated,
    /// The checksum position lies outside the frame.
    BadChecksumOffset,
    /// A GSO type other than TCPv4 / TCPv6 (UDP fragmentation, USO), or headers that do not
    /// parse as Ethernet + IPv4/IPv6 (no extension headers) + TCP.
    Unsupported,
}

/// Counters of [`Offload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadStats {
    /// Frames whose partial checksum was completed (plain frames, segments and whole
    /// super-frames).
    pub checksums_completed: u64,
    /// Frames passed on with the kernel's word for their checksum
    /// ([`OffloadConfig::keep_partial_checksums`]).
    pub checksums_trusted: u64,
    /// TCP super-frames read.
    pub super_frames: u64,
    /// Super-frames handed on whole ([`OffloadConfig::whole_super_frames`]).
    pub whole: u64,
    /// Segments made from the other super-frames.
    pub segments: u64,
    /// Frames dropped because they could not be processed.
    pub errors: u64,
}

/// How [`Offload`] hands frames on. The default does what a plain NIC would have done:
/// every frame leaves as an MSS-sized segment with a complete checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadConfig {
    /// Hand a TCP super-frame on whole, as one segment larger than the MSS (what Linux's
    /// receive offload, GRO, makes of such a burst), instead of cutting it into `gso_size`
    /// segments: one pass through the stack instead of some 45. The stack takes a segment
    /// of any size that fits its receive window. Super-frames of more than 64 KiB of IP
    /// datagram (BIG TCP) are still cut.
    pub whole_super_frames: bool,
    /// Leave the checksums the kernel vouches for alone instead of completing partial ones:
    /// for a receiver that does not verify them (see [`Vouched`]). The IPv4 header checksum
    /// is still kept valid.
    pub keep_partial_checksums: bool,
}

/// Whether the kernel vouches for the transport checksum of a frame: its
/// `virtio_net_hdr` carries `VIRTIO_NET_HDR_F_NEEDS_CSUM` (the host built the packet
/// itself and it never crossed a wire; the checksum field may hold only the pseudo-header
/// sum) or `VIRTIO_NET_HDR_F_DATA_VALID` (the host verified the checksum already). Linux
/// takes both as verified on its own virtio-net receive path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vouched(pub bool);

/// Turns frames read with a `virtio_net_hdr` into plain Ethernet frames.
#[derive(Debug, Default)]
pub struct Offload {
    stats: OffloadStats,
    scratch: Vec<u8>,
    config: OffloadConfig,
}

impl Offload {
    /// A converter that cuts super-frames into segments and completes every checksum.
    pub fn new() -> Offload {
        Offload::default()
    }

    /// A converter configured by `config`.
    pub fn with_config(config: OffloadConfig) -> Offload {
        Offload {
            config,
            ..Offload::default()
        }
    }

    /// Its configuration.
    pub fn config(&self) -> OffloadConfig {
        self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> &OffloadStats {
        &self.stats
    }

    /// Takes one read from the device (header + frame) and calls `out` with each plain frame
    /// it stands for, and whether the kernel vouches for its checksum: the frame itself
    /// (checksum completed if needed) or, for a TCP super-frame, its segments in order, or
    /// the super-frame as one segment (see [`OffloadConfig`]). On error nothing is passed on.
    pub fn split(
        &mut self,
        read: &mut [u8],
        mut out: impl FnMut(&mut [u8], Vouched),
    ) -> Result<(), OffloadError> {
        let result = self.split_inner(read, &mut out);
        if result.is_err() {
            self.stats.errors += 1;
        }
        result
    }

    fn split_inner(
        &mut self,
        read: &mut [u8],
        out: &mut impl FnMut(&mut [u8], Vouched),
    ) -> Result<(), OffloadError> {
        let hdr = VnetHdr::parse(read).ok_or(OffloadError::Truncated)?;
        let frame = &mut read[VNET_HDR_LEN..];
        let vouched = Vouched(hdr.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0);
        let keep = self.config.keep_partial_checksums && vouched.0;
        match hdr.gso_type & !GSO_ECN {
            GSO_NONE => {
                if keep {
                    self.stats.checksums_trusted += 1;
                } else if hdr.flags & F_NEEDS_CSUM != 0 {
                    complete_checksum(frame, hdr)?;
                    self.stats.checksums_completed += 1;
                }
                out(frame, vouched);
                Ok(())
            }
            GSO_TCPV4 | GSO_TCPV6 => {
                let h = Headers::parse(frame).ok_or(OffloadError::Unsupported)?;
                self.stats.super_frames += 1;
                if self.config.whole_super_frames && frame.len() <= ETH_LEN + MAX_IP_LEN {
                    self.whole(frame, &h, keep, vouched, out);
                    Ok(())
                } else {
                    self.segment(frame, &h, hdr, keep, vouched, out)
                }
            }
            _ => Err(OffloadError::Unsupported),
        }
    }

    /// Hands a TCP super-frame on as one segment: the IP length fields are set from the
    /// frame's length (with the IPv4 header checksum), and the TCP checksum is computed over
    /// the whole segment unless `keep`.
    fn whole(
        &mut self,
        frame: &mut [u8],
        h: &Headers,
        keep: bool,
        vouched: Vouched,
        out: &mut impl FnMut(&mut [u8], Vouched),
    ) {
        set_ip_len(frame, h);
        if keep {
            self.stats.checksums_trusted += 1;
        } else {
            set_tcp_checksum(frame, h);
            self.stats.checksums_completed += 1;
        }
        self.stats.whole += 1;
        out(frame, vouched);
    }

    /// Cuts a TCP super-frame into segments of `gso_size` payload bytes each (RFC 9293 §3.7.4:
    /// each carries the sequence number of its first byte; FIN and PSH stay on the last,
    /// CWR on the first; IPv4 identification numbers count up), with full checksums unless
    /// `keep`.
    fn segment(
        &mut self,
        frame: &[u8],
        h: &Headers,
        hdr: VnetHdr,
        keep: bool,
        vouched: Vouched,
        out: &mut impl FnMut(&mut [u8], Vouched),
    ) -> Result<(), OffloadError> {
        let mss = usize::from(hdr.gso_size);
        let payload = &frame[h.total..];
        if mss == 0 {
            return Err(OffloadError::Unsupported);
        }
        let seq0 = u32::from_be_bytes(frame[h.tcp + 4..h.tcp + 8].try_into().unwrap_or([0; 4]));
        let flags0 = frame[h.tcp + 13];
        let count = payload.len().div_ceil(mss).max(1);
        let mut scratch = std::mem::take(&mut self.scratch);
        for (i, chunk) in payload
            .chunks(mss)
            .chain(
                // A super-frame without payload still stands for one segment.
                std::iter::once(&[][..]).filter(|_| payload.is_empty()),
            )
            .enumerate()
        {
            scratch.clear();
            scratch.extend_from_slice(&frame[..h.total]);
            scratch.extend_from_slice(chunk);
            let seg = scratch.as_mut_slice();
            let offset = (i * mss) as u32;
            seg[h.tcp + 4..h.tcp + 8].copy_from_slice(&seq0.wrapping_add(offset).to_be_bytes());
            let mut flags = flags0;
            if i + 1 < count {
                flags &= !FIN_PSH;
            }
            if i > 0 {
                flags &= !CWR;
            }
            seg[h.tcp + 13] = flags;
            if !h.v6 {
                let id = u16::from_be_bytes([seg[ETH_LEN + 4], seg[ETH_LEN + 5]]);
                seg[ETH_LEN + 4..ETH_LEN + 6]
                    .copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
            }
            set_ip_len(seg, h);
            if keep {
                self.stats.checksums_trusted += 1;
            } else {
                set_tcp_checksum(seg, h);
                self.stats.checksums_completed += 1;
            }
            self.stats.segments += 1;
            out(seg, vouched);
        }
        self.scratch = scratch;
        Ok(())
    }
}

/// Sets the IP length field of a frame with the headers `h` from the frame's length, and
/// the IPv4 header checksum.
fn set_ip_len(frame: &mut [u8], h: &Headers) {
    let ip_len = frame.len() - ETH_LEN;
    if h.v6 {
        let payload_len = (ip_len - 40) as u16;
        frame[ETH_LEN + 4..ETH_LEN + 6].copy_from_slice(&payload_len.to_be_bytes());
    } else {
        frame[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        frame[ETH_LEN + 10..ETH_LEN + 12].fill(0);
        let sum = checksum::checksum_of(&frame[ETH_LEN..h.tcp]);
        frame[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&sum.to_be_bytes());
    }
}

/// Computes the TCP checksum of a frame with the headers `h` from scratch (whatever the
/// field held).
fn set_tcp_checksum(frame: &mut [u8], h: &Headers) {
    let tcp_len = frame.len() - h.tcp;
    frame[h.tcp + 16..h.tcp + 18].fill(0);
    let pseudo = checksum::pseudo_header(&h.src, &h.dst, ip_protocol::TCP, tcp_len as u32);
    let sum = !checksum::combine(&[pseudo, checksum::data(&frame[h.tcp..])]);
    frame[h.tcp + 16..h.tcp + 18].copy_from_slice(&sum.to_be_bytes());
}

/// Whether the transport checksum of a plain Ethernet frame is right, for the protocols
/// whose checksum a stack with `StackConfig::verify_checksums` off skips: TCP and ICMPv6.
/// Frames of other protocols, and frames that do not parse as Ethernet + IPv4/IPv6 (the
/// stack drops those itself, for that reason), pass. Parses with the stack's own parsers
/// (IPv6 extension headers skipped), so the bytes checked are the bytes the stack reads.
pub fn transport_checksum_ok(frame: &[u8]) -> bool {
    let Ok((eth, packet)) = EthernetRepr::parse(frame) else {
        return true;
    };
    if eth.ethertype != ethertype::IPV4 && eth.ethertype != ethertype::IPV6 {
        return true;
    }
    let Ok((ip, payload)) = IpRepr::parse(packet) else {
        return true;
    };
    match ip.protocol {
        ip_protocol::TCP | ip_protocol::ICMPV6 => {
            let pseudo = checksum::pseudo_header(
                &ip.src_addr,
                &ip.dst_addr,
                ip.protocol,
                payload.len() as u32,
            );
            checksum::combine(&[pseudo, checksum::data(payload)]) == 0xffff
        }
        _ => true,
    }
}

/// Completes a partial checksum the way a NIC does: the ones'-complement sum of everything
/// from `csum_start` to the end of the frame (the field holds the pseudo-header sum),
/// inverted, stored at `csum_start + csum_offset`.
fn complete_checksum(frame: &mut [u8], hdr: VnetHdr) -> Result<(), OffloadError> {
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > frame.len() {
        return Err(OffloadError::BadChecksumOffset);
    }
    let sum = !checksum::data(&frame[start..]);
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// Where the headers of an Ethernet + IP + TCP frame are.
struct Headers {
    v6: bool,
    src: IpAddr,
    dst: IpAddr,
    /// Offset of the TCP header.
    tcp: usize,
    /// Offset of the TCP payload (end of all headers).
    total: usize,
}

impl Headers {
    fn parse(frame: &[u8]) -> Option<Headers> {
        let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
        let ip = frame.get(ETH_LEN..)?;
        let (v6, src, dst, ip_hdr_len, ip_total) = match ethertype {
            ethertype::IPV4 => {
                let ihl = usize::from(*ip.first()? & 0x0f) * 4;
                if ip.first()? >> 4 != 4 || ihl < 20 || ip.len() < ihl || ip[9] != ip_protocol::TCP
                {
                    return None;
                }
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
                let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
                (false, IpAddr::V4(src), IpAddr::V4(dst), ihl, total)
            }
            ethertype::IPV6 => {
                if ip.len() < 40 || ip[0] >> 4 != 6 || ip[6] != ip_protocol::TCP {
                    return None;
                }
                let total = 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                let src: [u8; 16] = ip[8..24].try_into().ok()?;
                let dst: [u8; 16] = ip[24..40].try_into().ok()?;
                (
                    true,
                    IpAddr::V6(Ipv6Addr::from(src)),
                    IpAddr::V6(Ipv6Addr::from(dst)),
                    40,
                    total,
                )
            }
            _ => return None,
        };
        // GSO frames may carry 0 (IPv4 over 64 KiB is impossible, but be lenient) or the true
        // length; either way the frame's own end is what counts.
        if ip_total != 0 && ip_total > ip.len() {
            return None;
        }
        let tcp = ETH_LEN + ip_hdr_len;
        let data_offset = usize::from(*frame.get(tcp + 12)? >> 4) * 4;
        if data_offset < 20 || frame.len() < tcp + data_offset {
            return None;
        }
        Some(Headers {
            v6,
            src,
            dst,
            tcp,
            total: tcp + data_offset,
        })
    }
}

/// Largest IP datagram a super-frame may stand for (the IPv4 total length field).
const MAX_IP_LEN: usize = 65_535;
/// TCP PSH.
const PSH: u8 = 0x08;
/// TCP ACK.
const ACK: u8 = 0x10;

/// The layout of a batch that is still open for more segments.
#[derive(Debug, Clone, Copy)]
struct Batch {
    v6: bool,
    src: IpAddr,
    dst: IpAddr,
    /// Offset of the TCP header in the frame.
    tcp: usize,
    /// Length of all headers (Ethernet + IP + TCP).
    total: usize,
    /// Payload bytes of the first segment: every segment but the last has as many.
    mss: usize,
    /// Sequence number the next segment must carry.
    next_seq: u32,
    /// A short or PSH segment ended the batch: nothing more may follow.
    closed: bool,
    /// The last segment carries PSH.
    psh: bool,
}

/// The send side of segmentation offload: merges consecutive TCP segments the stack sends
/// into one super-frame with a `virtio_net_hdr` asking the kernel for TSO (`gso_type`
/// TCPv4 / TCPv6, `gso_size` the segment payload) and checksum offload.
///
/// Segments merge only when the kernel would cut the super-frame back into exactly them:
/// the kernel copies the first segment's headers to every segment (advancing the sequence
/// number and the IPv4 identification, fixing lengths and checksums, keeping PSH and FIN on
/// the last only), so all headers must be byte-for-byte equal except for the sequence
/// number, the checksums, the IPv4 identification and the IP lengths; flags only ACK (and
/// PSH, which ends a batch); sequence numbers contiguous; payloads all of the first one's
/// size except the last, which may be shorter (and ends the batch).
///
/// Every frame goes through [`Coalescer::push`]; [`Coalescer::finish`] hands out what was
/// collected, `virtio_net_hdr` first, ready for one `write(2)`. A frame that cannot merge
/// leaves the batch as a single frame with an all-zero header.
#[derive(Debug)]
pub struct Coalescer {
    /// The `virtio_net_hdr` (filled by `finish`) and the frame.
    buf: Vec<u8>,
    /// Segments in `buf` (0: empty).
    segments: usize,
    /// Set while more segments may be appended.
    batch: Option<Batch>,
    /// Largest Ethernet frame (without `virtio_net_hdr`) a super-frame may grow to.
    max_frame: usize,
}

impl Default for Coalescer {
    fn default() -> Coalescer {
        Coalescer::new()
    }
}

impl Coalescer {
    /// A coalescer for super-frames of up to 64 KiB of IP datagram.
    pub fn new() -> Coalescer {
        Coalescer::with_max_frame(ETH_LEN + MAX_IP_LEN)
    }

    /// A coalescer whose super-frames stay within `max_frame` bytes of Ethernet frame
    /// (capped at 14 + 65,535).
    pub fn with_max_frame(max_frame: usize) -> Coalescer {
        Coalescer {
            buf: Vec::new(),
            segments: 0,
            batch: None,
            max_frame: max_frame.min(ETH_LEN + MAX_IP_LEN),
        }
    }

    /// Nothing is collected.
    pub fn is_empty(&self) -> bool {
        self.segments == 0
    }

    /// Frames collected so far.
    pub fn len(&self) -> usize {
        self.segments
    }

    /// Adds `frame` (a plain Ethernet frame): it starts the batch when the coalescer is
    /// empty, or merges into it. `false`: it does not merge, and the caller must
    /// [`finish`](Coalescer::finish) the batch first and push the frame again.
    pub fn push(&mut self, frame: &[u8]) -> bool {
        if self.segments == 0 {
            self.start(frame);
            return true;
        }
        let Some(mut b) = self.batch else {
            return false;
        };
        if b.closed || frame.len() <= b.total {
            return false;
        }
        let payload = frame.len() - b.total;
        if payload > b.mss || self.buf.len() - VNET_HDR_LEN + payload > self.max_frame {
            return false;
        }
        let first = &self.buf[VNET_HDR_LEN..VNET_HDR_LEN + b.total];
        if !same_headers(first, &frame[..b.total], b.v6, b.tcp) || !ip_len_matches(frame, b.v6) {
            return false;
        }
        let seq = u32::from_be_bytes([
            frame[b.tcp + 4],
            frame[b.tcp + 5],
            frame[b.tcp + 6],
            frame[b.tcp + 7],
        ]);
        if seq != b.next_seq {
            return false;
        }
        let psh = frame[b.tcp + 13] & PSH != 0;
        self.buf.extend_from_slice(&frame[b.total..]);
        self.segments += 1;
        b.next_seq = seq.wrapping_add(payload as u32);
        b.psh = psh;
        b.closed = psh || payload < b.mss;
        self.batch = Some(b);
        true
    }

    fn start(&mut self, frame: &[u8]) {
        self.buf.clear();
        self.buf.resize(VNET_HDR_LEN, 0);
        self.buf.extend_from_slice(frame);
        self.segments = 1;
        self.batch = Self::open(frame);
    }

    /// The batch layout when `frame` is a TCP data segment that others may join.
    fn open(frame: &[u8]) -> Option<Batch> {
        let h = Headers::parse(frame)?;
        if !ip_len_matches(frame, h.v6) || frame.len() <= h.total {
            return None;
        }
        if !h.v6 {
            // Fragments never merge (MF set or a fragment offset).
            let frag = u16::from_be_bytes([frame[ETH_LEN + 6], frame[ETH_LEN + 7]]);
            if frag & 0x3fff != 0 {
                return None;
            }
        }
        let flags = frame[h.tcp + 13];
        if flags & !PSH != ACK {
            return None;
        }
        let mss = frame.len() - h.total;
        let seq = u32::from_be_bytes([
            frame[h.tcp + 4],
            frame[h.tcp + 5],
            frame[h.tcp + 6],
            frame[h.tcp + 7],
        ]);
        let psh = flags & PSH != 0;
        Some(Batch {
            v6: h.v6,
            src: h.src,
            dst: h.dst,
            tcp: h.tcp,
            total: h.total,
            mss,
            next_seq: seq.wrapping_add(mss as u32),
            closed: psh,
            psh,
        })
    }

    /// Hands out what was collected (`None` when empty) as `virtio_net_hdr` + frame: a single
    /// frame unchanged behind an all-zero header, a super-frame with its lengths, IPv4
    /// header checksum, PSH and partial TCP checksum fixed up behind a header asking for TSO.
    /// The coalescer is empty afterwards; give the buffer back with
    /// [`recycle`](Coalescer::recycle) to reuse its memory.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let segments = std::mem::replace(&mut self.segments, 0);
        let batch = self.batch.take();
        if segments == 0 {
            return None;
        }
        let mut buf = std::mem::take(&mut self.buf);
        let mut hdr = VnetHdr::default();
        if let (Some(b), true) = (batch, segments > 1) {
            let frame = &mut buf[VNET_HDR_LEN..];
            let ip_len = frame.len() - ETH_LEN;
            if b.v6 {
                let payload_len = (ip_len - 40) as u16;
                frame[ETH_LEN + 4..ETH_LEN + 6].copy_from_slice(&payload_len.to_be_bytes());
            } else {
                frame[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&(ip_len as u16).to_be_bytes());
                frame[ETH_LEN + 10..ETH_LEN + 12].fill(0);
                let sum = checksum::checksum_of(&frame[ETH_LEN..b.tcp]);
                frame[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&sum.to_be_bytes());
            }
            if b.psh {
                frame[b.tcp + 13] |= PSH;
            } else {
                frame[b.tcp + 13] &= !PSH;
            }
            // A partial checksum, as Linux keeps it (CHECKSUM_PARTIAL): the pseudo-header sum
            // over the whole super-frame's TCP length, not inverted; the kernel adjusts it
            // per segment and adds the data.
            let tcp_len = (frame.len() - b.tcp) as u32;
            let pseudo = checksum::pseudo_header(&b.src, &b.dst, ip_protocol::TCP, tcp_len);
            frame[b.tcp + 16..b.tcp + 18].copy_from_slice(&pseudo.to_be_bytes());
            hdr = VnetHdr {
                flags: F_NEEDS_CSUM,
                gso_type: if b.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
                hdr_len: b.total as u16,
                gso_size: b.mss as u16,
                csum_start: b.tcp as u16,
                csum_offset: 16,
            };
        }
        let mut out = [0u8; VNET_HDR_LEN];
        hdr.emit(&mut out);
        buf[..VNET_HDR_LEN].copy_from_slice(&out);
        Some(buf)
    }

    /// Gives a buffer from [`finish`](Coalescer::finish) back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.segments == 0 && buf.capacity() > self.buf.capacity() {
            self.buf = buf;
        }
    }
}

/// The IP length field agrees with the frame's length (no Ethernet padding, no truncation).
fn ip_len_matches(frame: &[u8], v6: bool) -> bool {
    let at = if v6 { ETH_LEN + 4 } else { ETH_LEN + 2 };
    let Some(field) = frame.get(at..at + 2) else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes([field[0], field[1]]));
    let ip_len = frame.len() - ETH_LEN;
    if v6 {
        len + 40 == ip_len
    } else {
        len == ip_len
    }
}

/// The headers `a` and `b` (same length: Ethernet + IP + TCP) are equal except for the
/// fields the kernel rewrites per segment: IP lengths, IPv4 identification and header
/// checksum, TCP sequence number, checksum and PSH.
fn same_headers(a: &[u8], b: &[u8], v6: bool, tcp: usize) -> bool {
    // (start, end) of the fields skipped, in order.
    let ip_skip: &[(usize, usize)] = if v6 {
        &[(ETH_LEN + 4, ETH_LEN + 6)]
    } else {
        &[(ETH_LEN + 2, ETH_LEN + 6), (ETH_LEN + 10, ETH_LEN + 12)]
    };
    let tcp_skip = [
        (tcp + 4, tcp + 8),
        (tcp + 13, tcp + 14),
        (tcp + 16, tcp + 18),
    ];
    let mut at = 0;
    for &(start, end) in ip_skip.iter().chain(tcp_skip.iter()) {
        if a[at..start] != b[at..start] {
            return false;
        }
        at = end;
    }
    if a[tcp + 13] & !PSH != b[tcp + 13] & !PSH {
        return false;
    }
    a[at..] == b[at..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanstcp::wire::{
        EthernetAddress, EthernetRepr, IpRepr, TcpFlags, TcpOptions, TcpPacket, TcpRepr,
    };

    fn tcp_frame(src: &str, dst: &str, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
        let src: IpAddr = src.parse().unwrap();
        let dst: IpAddr = dst.parse().unwrap();
        let tcp = TcpRepr {
            src_port: 1000,
            dst_port: 80,
            seq: 0xffff_f000,
            ack: 77,
            flags,
            window: 512,
            urgent: 0,
            options: TcpOptions::default(),
            payload,
        };
        let ip = IpRepr {
            src_addr: src,
            dst_addr: dst,
            protocol: ip_protocol::TCP,
            payload_len: tcp.segment_len(),
            hop_limit: 64,
            ecn: 0,
        };
        let mut frame = vec![0u8; ETH_LEN + ip.header_len() + tcp.segment_len()];
        EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype: if src.is_ipv4() {
                ethertype::IPV4
            } else {
                ethertype::IPV6
            },
        }
        .emit(&mut frame);
        let h = ip.header_len();
        ip.emit(&mut frame[ETH_LEN..ETH_LEN + h]);
        tcp.emit(&mut frame[ETH_LEN + h..], &src, &dst);
        frame
    }

    fn with_hdr(hdr: VnetHdr, frame: &[u8]) -> Vec<u8> {
        let mut h = [0u8; VNET_HDR_LEN];
        hdr.emit(&mut h);
        let mut v = h.to_vec();
        v.extend_from_slice(frame);
        v
    }

    fn check_segment(seg: &[u8]) -> (u32, TcpFlags, Vec<u8>) {
        let v6 = u16::from_be_bytes([seg[12], seg[13]]) == ethertype::IPV6;
        let ip = &seg[ETH_LEN..];
        let (src, dst, hl): (IpAddr, IpAddr, usize) = if v6 {
            assert_eq!(
                usize::from(u16::from_be_bytes([ip[4], ip[5]])) + 40,
                ip.len()
            );
            let s: [u8; 16] = ip[8..24].try_into().unwrap();
            let d: [u8; 16] = ip[24..40].try_into().unwrap();
            (Ipv6Addr::from(s).into(), Ipv6Addr::from(d).into(), 40)
        } else {
            assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
            assert_eq!(checksum::data(&ip[..20]), 0xffff, "IPv4 header checksum");
            (
                Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]).into(),
                Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]).into(),
                20,
            )
        };
        let tcp = TcpPacket::new_checked(&ip[hl..]).unwrap();
        assert!(tcp.verify_checksum(&src, &dst), "TCP checksum");
        (tcp.seq_number(), tcp.flags(), tcp.payload().to_vec())
    }

    fn super_frame(v6: bool) {
        let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let (src, dst) = if v6 {
            ("fd00::1", "fd00::2")
        } else {
            ("10.0.0.1", "10.0.0.2")
        };
        let flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::CWR;
        let mut frame = tcp_frame(src, dst, flags, &payload);
        // The kernel leaves only the pseudo-header sum in the checksum field; scribble on it
        // to show that segmentation does not depend on it.
        let tcp_at = ETH_LEN + if v6 { 40 } else { 20 };
        frame[tcp_at + 16] ^= 0x5a;
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
            hdr_len: (tcp_at + 20) as u16,
            gso_size: 1448,
            csum_start: tcp_at as u16,
            csum_offset: 16,
        };
        let mut read = with_hdr(hdr, &frame);
        let mut segs = Vec::new();
        let mut off = Offload::new();
        off.split(&mut read, |s, v| {
            assert_eq!(v, Vouched(true));
            segs.push(s.to_vec())
        })
        .unwrap();
        assert_eq!(segs.len(), 7);
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let (seq, f, p) = check_segment(s);
            assert_eq!(seq, 0xffff_f000u32.wrapping_add(i as u32 * 1448));
            assert_eq!(f.contains(TcpFlags::FIN), i == 6);
            assert_eq!(f.contains(TcpFlags::PSH), i == 6);
            assert_eq!(f.contains(TcpFlags::CWR), i == 0);
            assert!(f.contains(TcpFlags::ACK));
            assert!(p.len() <= 1448);
            joined.extend_from_slice(&p);
        }
        assert_eq!(joined, payload);
        assert_eq!(off.stats().segments, 7);
        assert_eq!(off.stats().super_frames, 1);
    }

    #[test]
    fn tcpv4_super_frame_is_segmented() {
        super_frame(false);
    }

    #[test]
    fn tcpv6_super_frame_is_segmented() {
        super_frame(true);
    }

    /// A super-frame as the kernel hands it over: partial checksum (the pseudo-header sum
    /// over the whole length), here also an IPv4 total length of 0 to show that the lengths
    /// come from the frame.
    fn kernel_super_frame(v6: bool, payload: &[u8], flags: TcpFlags) -> (Vec<u8>, usize) {
        let (src, dst) = if v6 {
            ("fd00::1", "fd00::2")
        } else {
            ("10.0.0.1", "10.0.0.2")
        };
        let mut frame = tcp_frame(src, dst, flags, payload);
        let tcp_at = ETH_LEN + if v6 { 40 } else { 20 };
        let pseudo = checksum::pseudo_header(
            &src.parse().unwrap(),
            &dst.parse().unwrap(),
            ip_protocol::TCP,
            (frame.len() - tcp_at) as u32,
        );
        frame[tcp_at + 16..tcp_at + 18].copy_from_slice(&pseudo.to_be_bytes());
        if !v6 {
            frame[ETH_LEN + 2..ETH_LEN + 4].fill(0);
        }
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
            hdr_len: (tcp_at + 20) as u16,
            gso_size: 1448,
            csum_start: tcp_at as u16,
            csum_offset: 16,
        };
        (with_hdr(hdr, &frame), tcp_at)
    }

    #[test]
    fn super_frames_pass_whole_with_their_checksum_completed() {
        for v6 in [false, true] {
            let payload: Vec<u8> = (0..60_000u32).map(|i| (i * 13 + i / 251) as u8).collect();
            let flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::CWR;
            let (mut read, _) = kernel_super_frame(v6, &payload, flags);
            let mut off = Offload::with_config(OffloadConfig {
                whole_super_frames: true,
                keep_partial_checksums: false,
            });
            let mut got = Vec::new();
            off.split(&mut read, |f, v| {
                assert_eq!(v, Vouched(true));
                got.push(f.to_vec())
            })
            .unwrap();
            assert_eq!(got.len(), 1, "one segment");
            // check_segment verifies the IP length, the IPv4 header checksum and the TCP
            // checksum.
            let (seq, f, p) = check_segment(&got[0]);
            assert_eq!((seq, f), (0xffff_f000, flags));
            assert!(p == payload, "payload");
            let s = *off.stats();
            assert_eq!((s.super_frames, s.whole, s.segments), (1, 1, 0), "{s:?}");
            assert_eq!(
                (s.checksums_completed, s.checksums_trusted),
                (1, 0),
                "{s:?}"
            );
        }
    }

    #[test]
    fn kept_checksums_are_left_alone_only_when_the_kernel_vouches() {
        let keep = OffloadConfig {
            whole_super_frames: true,
            keep_partial_checksums: true,
        };
        for v6 in [false, true] {
            let payload = vec![0xa5u8; 20_000];
            let (mut read, tcp_at) = kernel_super_frame(v6, &payload, TcpFlags::ACK);
            let field = read[VNET_HDR_LEN + tcp_at + 16..VNET_HDR_LEN + tcp_at + 18].to_vec();
            let mut off = Offload::with_config(keep);
            let mut got = Vec::new();
            off.split(&mut read, |f, v| got.push((f.to_vec(), v)))
                .unwrap();
            let [(frame, vouched)] = &got[..] else {
                panic!("{} frames", got.len())
            };
            assert_eq!(*vouched, Vouched(true));
            // The partial sum stays, so the frame does not verify on its own...
            assert_eq!(frame[tcp_at + 16..tcp_at + 18], field[..]);
            assert!(!transport_checksum_ok(frame));
            // ...but the IP header is whole: length from the frame, valid header checksum.
            let ip = &frame[ETH_LEN..];
            if v6 {
                assert_eq!(
                    usize::from(u16::from_be_bytes([ip[4], ip[5]])) + 40,
                    ip.len()
                );
            } else {
                assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
                assert_eq!(checksum::data(&ip[..20]), 0xffff, "IPv4 header checksum");
            }
            assert_eq!(off.stats().checksums_trusted, 1);
            assert_eq!(off.stats().checksums_completed, 0);
        }

        // DATA_VALID: vouched for, passed as it is. No flag: not vouched for, passed as it is.
        let plain = tcp_frame("10.0.0.1", "10.0.0.2", TcpFlags::ACK, b"data");
        for (flags, vouched) in [(F_DATA_VALID, true), (0, false)] {
            let hdr = VnetHdr {
                flags,
                ..VnetHdr::default()
            };
            let mut got = Vec::new();
            Offload::with_config(keep)
                .split(&mut with_hdr(hdr, &plain), |f, v| got.push((f.to_vec(), v)))
                .unwrap();
            assert_eq!(got, vec![(plain.clone(), Vouched(vouched))]);
        }
    }

    #[test]
    fn super_frames_beyond_64k_are_still_cut() {
        // BIG TCP: more IP datagram than a length field holds (IPv6 here, its payload
        // length left at 0 as with a jumbogram).
        let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        let (mut read, _) = kernel_super_frame(true, &payload[..1000], TcpFlags::ACK);
        read.extend_from_slice(&payload[1000..]);
        read[VNET_HDR_LEN + ETH_LEN + 4..VNET_HDR_LEN + ETH_LEN + 6].fill(0);
        let mut off = Offload::with_config(OffloadConfig {
            whole_super_frames: true,
            keep_partial_checksums: false,
        });
        let mut joined = Vec::new();
        off.split(&mut read, |f, _| joined.extend(check_segment(f).2))
            .unwrap();
        assert!(joined == payload);
        let s = *off.stats();
        assert_eq!(
            (s.whole, s.segments),
            (0, 70_000u64.div_ceil(1448)),
            "{s:?}"
        );
    }

    #[test]
    fn transport_checksums_are_checked_for_tcp_and_icmpv6() {
        for (src, dst) in [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")] {
            let good = tcp_frame(src, dst, TcpFlags::ACK, b"some payload");
            assert!(transport_checksum_ok(&good));
            for at in [good.len() - 1, good.len() - 20] {
                let mut bad = good.clone();
                bad[at] ^= 0x10;
                assert!(!transport_checksum_ok(&bad), "{src}: flipped byte {at}");
            }
        }
        // An ICMPv6 echo request, right and wrong.
        let (src, dst): (IpAddr, IpAddr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        let mut body = vec![128u8, 0, 0, 0, 0, 1, 0, 1, b'p', b'i', b'n', b'g'];
        let pseudo = checksum::pseudo_header(&src, &dst, ip_protocol::ICMPV6, body.len() as u32);
        let sum = !checksum::combine(&[pseudo, checksum::data(&body)]);
        body[2..4].copy_from_slice(&sum.to_be_bytes());
        let ip = IpRepr {
            src_addr: src,
            dst_addr: dst,
            protocol: ip_protocol::ICMPV6,
            payload_len: body.len(),
            hop_limit: 64,
            ecn: 0,
        };
        let mut icmp = vec![0u8; ETH_LEN + 40];
        icmp[12..14].copy_from_slice(&ethertype::IPV6.to_be_bytes());
        ip.emit(&mut icmp[ETH_LEN..]);
        icmp.extend_from_slice(&body);
        assert!(transport_checksum_ok(&icmp));
        *icmp.last_mut().unwrap() ^= 1;
        assert!(!transport_checksum_ok(&icmp));
        // ICMPv4 (which the stack always verifies itself), ARP and garbage pass.
        let mut icmp4 = tcp_frame("10.0.0.1", "10.0.0.2", TcpFlags::ACK, b"x");
        icmp4[ETH_LEN + 9] = ip_protocol::ICMP;
        icmp4[ETH_LEN + 10..ETH_LEN + 12].fill(0);
        let sum = checksum::checksum_of(&icmp4[ETH_LEN..ETH_LEN + 20]);
        icmp4[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&sum.to_be_bytes());
        assert!(transport_checksum_ok(&icmp4));
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&ethertype::ARP.to_be_bytes());
        assert!(transport_checksum_ok(&arp));
        assert!(transport_checksum_ok(&[0u8; 5]));
    }

    #[test]
    fn partial_checksum_is_completed() {
        let frame = tcp_frame("10.0.0.1", "10.0.0.2", TcpFlags::ACK, b"hello, world");
        let tcp_at = ETH_LEN + 20;
        // Replace the checksum by the pseudo-header sum, as the kernel leaves it.
        let mut partial = frame.clone();
        let pseudo = checksum::pseudo_header(
            &"10.0.0.1".parse().unwrap(),
            &"10.0.0.2".parse().unwrap(),
            ip_protocol::TCP,
            (frame.len() - tcp_at) as u32,
        );
        partial[tcp_at + 16..tcp_at + 18].copy_from_slice(&pseudo.to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: tcp_at as u16,
            csum_offset: 16,
            ..VnetHdr::default()
        };
        let mut read = with_hdr(hdr, &partial);
        let mut got = Vec::new();
        Offload::new()
            .split(&mut read, |f, v| {
                assert_eq!(v, Vouched(true));
                got.push(f.to_vec())
            })
            .unwrap();
        assert_eq!(got, vec![frame]);
    }

    #[test]
    fn plain_frames_pass_and_bad_ones_are_refused() {
        let frame = tcp_frame("fd00::1", "fd00::2", TcpFlags::ACK, b"x");
        let mut read = with_hdr(VnetHdr::default(), &frame);
        let mut got = Vec::new();
        let mut off = Offload::new();
        off.split(&mut read, |f, v| {
            // Nobody checked it: the receiver must.
            assert_eq!(v, Vouched(false));
            got.push(f.to_vec())
        })
        .unwrap();
        assert_eq!(got, vec![frame.clone()]);

        let bad = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 5000,
            ..VnetHdr::default()
        };
        assert_eq!(
            off.split(&mut with_hdr(bad, &frame), |_, _| panic!()),
            Err(OffloadError::BadChecksumOffset)
        );
        let udp = VnetHdr {
            gso_type: 3,
            ..VnetHdr::default()
        };
        assert_eq!(
            off.split(&mut with_hdr(udp, &frame), |_, _| panic!()),
            Err(OffloadError::Unsupported)
        );
        assert_eq!(
            off.split(&mut [0u8; 4], |_, _| panic!()),
            Err(OffloadError::Truncated)
        );
        assert_eq!(off.stats().errors, 3);
    }

    /// A data segment of a flow, with timestamps; payload bytes follow from `seq`.
    fn data_seg(v6: bool, seq: u32, flags: TcpFlags, len: usize, tsval: u32) -> Vec<u8> {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap())
        } else {
            ("10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap())
        };
        let payload: Vec<u8> = (0..len as u32)
            .map(|i| (seq.wrapping_add(i) % 251) as u8)
            .collect();
        let tcp = TcpRepr {
            src_port: 19,
            dst_port: 40000,
            seq,
            ack: 1234,
            flags,
            window: 8000,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some((tsval, 99)),
                ..TcpOptions::default()
            },
            payload: &payload,
        };
        let ip = IpRepr {
            src_addr: src,
            dst_addr: dst,
            protocol: ip_protocol::TCP,
            payload_len: tcp.segment_len(),
            hop_limit: 64,
            ecn: 0,
        };
        let mut frame = vec![0u8; ETH_LEN + ip.header_len() + tcp.segment_len()];
        EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            ethertype: if v6 { ethertype::IPV6 } else { ethertype::IPV4 },
        }
        .emit(&mut frame);
        let h = ip.header_len();
        ip.emit(&mut frame[ETH_LEN..ETH_LEN + h]);
        tcp.emit(&mut frame[ETH_LEN + h..], &src, &dst);
        frame
    }

    const SEQ0: u32 = 0xffff_fc00; // wraps inside the run

    fn coalesced_segments_round_trip(v6: bool) {
        let ack = TcpFlags::ACK;
        let mss = 1000;
        let mut segs: Vec<Vec<u8>> = (0..5u32)
            .map(|i| data_seg(v6, SEQ0.wrapping_add(i * mss as u32), ack, mss, 7))
            .collect();
        segs.push(data_seg(
            v6,
            SEQ0.wrapping_add(5 * mss as u32),
            ack | TcpFlags::PSH,
            300,
            7,
        ));
        let mut c = Coalescer::new();
        assert!(c.is_empty());
        for s in &segs {
            assert!(c.push(s), "segment {} of the run did not merge", c.len());
        }
        assert_eq!(c.len(), 6);
        // After PSH (and after a short segment) nothing more merges.
        assert!(!c.push(&data_seg(v6, SEQ0.wrapping_add(5300), ack, 300, 7)));
        let raw = c.finish().unwrap();
        assert!(c.is_empty() && c.finish().is_none());

        let ip_hdr = if v6 { 40 } else { 20 };
        let tcp_at = ETH_LEN + ip_hdr;
        let hdr_len = tcp_at + 32; // TCP with the timestamps option (12 bytes, padded)
        let hdr = VnetHdr::parse(&raw).unwrap();
        assert_eq!(
            hdr,
            VnetHdr {
                flags: F_NEEDS_CSUM,
                gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
                hdr_len: hdr_len as u16,
                gso_size: mss as u16,
                csum_start: tcp_at as u16,
                csum_offset: 16,
            }
        );
        let frame = &raw[VNET_HDR_LEN..];
        assert_eq!(frame.len(), hdr_len + 5 * mss + 300);
        // The headers are the first segment's, with lengths (and the IPv4 header checksum)
        // fixed and the last segment's PSH.
        let first = &segs[0];
        let ip = &frame[ETH_LEN..];
        if v6 {
            assert_eq!(
                usize::from(u16::from_be_bytes([ip[4], ip[5]])),
                ip.len() - 40
            );
        } else {
            assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
            assert_eq!(checksum::data(&ip[..20]), 0xffff, "IPv4 header checksum");
            assert_eq!(ip[4..6], first[ETH_LEN + 4..ETH_LEN + 6], "identification");
        }
        assert_eq!(frame[..ETH_LEN + 2], first[..ETH_LEN + 2]);
        assert_eq!(frame[tcp_at..tcp_at + 13], first[tcp_at..tcp_at + 13]);
        assert_eq!(frame[tcp_at + 13], (ack | TcpFlags::PSH).0 as u8);
        assert_eq!(frame[tcp_at + 18..hdr_len], first[tcp_at + 18..hdr_len]);
        // The payloads in order.
        let payload: Vec<u8> = segs.iter().flat_map(|s| s[hdr_len..].to_vec()).collect();
        assert_eq!(frame[hdr_len..], payload[..]);
        // The checksum field holds the pseudo-header sum over the whole TCP length, as for
        // CHECKSUM_PARTIAL: completing it gives a valid checksum of the super-frame.
        let mut whole = frame.to_vec();
        complete_checksum(&mut whole, hdr).unwrap();
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap())
        } else {
            ("10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap())
        };
        let tcp = TcpPacket::new_checked(&whole[tcp_at..]).unwrap();
        assert!(tcp.verify_checksum(&src, &dst), "completed TCP checksum");

        // Segmenting it (as the kernel does, here by the receive side) gives back the run.
        let mut out = Vec::new();
        let mut raw = raw;
        Offload::new()
            .split(&mut raw, |seg, _| out.push(seg.to_vec()))
            .unwrap();
        assert_eq!(out.len(), segs.len());
        for (got, want) in out.iter().zip(&segs) {
            assert_eq!(check_segment(got), check_segment(want));
            assert_eq!(got[tcp_at + 18..hdr_len], want[tcp_at + 18..hdr_len]);
        }
    }

    #[test]
    fn tcpv4_segments_coalesce_into_a_super_frame() {
        coalesced_segments_round_trip(false);
    }

    #[test]
    fn tcpv6_segments_coalesce_into_a_super_frame() {
        coalesced_segments_round_trip(true);
    }

    /// `second` does not merge behind `first`; both go out unchanged behind a zero header.
    fn refused(first: &[u8], second: &[u8], why: &str) {
        let mut c = Coalescer::new();
        assert!(c.push(first));
        assert!(!c.push(second), "merged: {why}");
        let raw = c.finish().unwrap();
        assert_eq!(raw[..VNET_HDR_LEN], [0u8; VNET_HDR_LEN], "{why}");
        assert_eq!(raw[VNET_HDR_LEN..], first[..], "{why}");
        assert!(c.push(second));
        let raw = c.finish().unwrap();
        assert_eq!(raw[..VNET_HDR_LEN], [0u8; VNET_HDR_LEN], "{why}");
        assert_eq!(raw[VNET_HDR_LEN..], second[..], "{why}");
    }

    #[test]
    fn segments_that_the_kernel_would_not_recreate_never_merge() {
        let ack = TcpFlags::ACK;
        for v6 in [false, true] {
            let seg = |seq: u32, flags: TcpFlags, len: usize, ts: u32| {
                data_seg(v6, SEQ0.wrapping_add(seq), flags, len, ts)
            };
            let first = seg(0, ack, 1000, 7);
            refused(&first, &seg(1001, ack, 1000, 7), "a gap");
            refused(&first, &seg(999, ack, 1000, 7), "an overlap");
            refused(&first, &seg(0, ack, 1000, 7), "a retransmission");
            refused(&first, &seg(1000, ack, 1001, 7), "a longer payload");
            refused(&first, &seg(1000, ack, 0, 7), "no payload");
            refused(&first, &seg(1000, ack, 1000, 8), "another TSval");
            for flags in [TcpFlags::FIN, TcpFlags::RST, TcpFlags::URG, TcpFlags::ECE] {
                refused(&first, &seg(1000, ack | flags, 1000, 7), "other flags");
            }
            refused(
                &seg(0, ack | TcpFlags::PSH, 1000, 7),
                &seg(1000, ack, 1000, 7),
                "after PSH",
            );
            // A short segment ends the run.
            let mut c = Coalescer::new();
            assert!(c.push(&first) && c.push(&seg(1000, ack, 400, 7)));
            assert!(!c.push(&seg(1400, ack, 1000, 7)), "after a short segment");
            // Another window, ack, port or address.
            let mut other = seg(1000, ack, 1000, 7);
            let tcp_at = ETH_LEN + if v6 { 40 } else { 20 };
            for at in [
                tcp_at + 1,
                tcp_at + 9,
                tcp_at + 15,
                ETH_LEN + if v6 { 39 } else { 19 },
            ] {
                other[at] ^= 1;
                refused(&first, &other, "different headers");
                other[at] ^= 1;
            }
            // A segment that does not merge (SYN, FIN, a bare ACK) takes nothing behind it.
            refused(
                &seg(0, TcpFlags::SYN, 0, 7),
                &seg(1, ack, 1000, 7),
                "behind a SYN",
            );
            refused(
                &seg(0, ack | TcpFlags::FIN, 1000, 7),
                &seg(1000, ack, 1000, 7),
                "behind a FIN",
            );
            refused(
                &seg(0, ack, 0, 7),
                &seg(0, ack, 1000, 7),
                "behind a bare ACK",
            );
        }
        // Other families, and a frame that is not TCP at all.
        refused(
            &data_seg(false, 0, TcpFlags::ACK, 1000, 7),
            &data_seg(true, 1000, TcpFlags::ACK, 1000, 7),
            "another family",
        );
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&ethertype::ARP.to_be_bytes());
        refused(&arp, &arp, "not TCP");
    }

    #[test]
    fn super_frames_stay_within_their_size_limit() {
        let ack = TcpFlags::ACK;
        // 64 KiB of IP datagram: 1448-byte segments (with 52 bytes of IPv4 + TCP headers)
        // fit 45 times.
        let mut c = Coalescer::new();
        let mut n = 0u32;
        while c.push(&data_seg(false, n * 1448, ack, 1448, 1)) {
            n += 1;
        }
        assert_eq!(n, 45);
        let raw = c.finish().unwrap();
        assert!(raw.len() - VNET_HDR_LEN - ETH_LEN <= 65_535);
        assert_eq!(VnetHdr::parse(&raw).unwrap().gso_type, GSO_TCPV4);
        // A smaller limit, and the frame that did not fit starts the next batch.
        let mut c = Coalescer::with_max_frame(ETH_LEN + 52 + 3 * 1000);
        for i in 0..3 {
            assert!(c.push(&data_seg(false, i * 1000, ack, 1000, 1)));
        }
        let fourth = data_seg(false, 3000, ack, 1000, 1);
        assert!(!c.push(&fourth));
        assert_eq!(
            c.finish().unwrap().len(),
            VNET_HDR_LEN + ETH_LEN + 52 + 3000
        );
        assert!(c.push(&fourth) && c.push(&data_seg(false, 4000, ack, 10, 1)));
        let raw = c.finish().unwrap();
        let hdr = VnetHdr::parse(&raw).unwrap();
        assert_eq!((hdr.gso_size, hdr.flags), (1000, F_NEEDS_CSUM));
        // A buffer handed back is reused.
        c.recycle(raw);
        assert!(c.push(&fourth));
        assert_eq!(c.finish().unwrap()[VNET_HDR_LEN..], fourth[..]);
    }
}
