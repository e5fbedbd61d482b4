//! Undoing the kernel's offloads on frames read with `IFF_VNET_HDR`.
//!
//! With `TUNSETOFFLOAD` the kernel may hand the device frames whose TCP checksum is only
//! partial (the pseudo-header sum, `VIRTIO_NET_HDR_F_NEEDS_CSUM`) and TCP "super-frames" of
//! up to 64 KiB that a NIC would cut into MSS-sized segments (`gso_type` TCPv4 / TCPv6). The
//! stack wants ordinary frames: [`Offload::split`] completes checksums and segments, as
//! the NIC would have.
//!
//! The `virtio_net_hdr` (virtio 1.x §5.1.6, legacy layout, little-endian on the
//! little-endian machines Linux's TAP driver defaults to; 10 bytes):
//! `flags: u8, gso_type: u8, hdr_len: u16, gso_size: u16, csum_start: u16, csum_offset: u16`.

use sanstcp::wire::checksum;
use sanstcp::wire::ethernet::ethertype;
use sanstcp::wire::ip_protocol;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Size of the `virtio_net_hdr` in front of every frame.
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header sum.
const F_NEEDS_CSUM: u8 = 1;
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
    /// Frames whose partial checksum was completed (plain frames and segments).
    pub checksums_completed: u64,
    /// Super-frames segmented.
    pub super_frames: u64,
    /// Segments made from super-frames.
    pub segments: u64,
    /// Frames dropped because they could not be processed.
    pub errors: u64,
}

/// Turns frames read with a `virtio_net_hdr` into plain Ethernet frames.
#[derive(Debug, Default)]
pub struct Offload {
    stats: OffloadStats,
    scratch: Vec<u8>,
}

impl Offload {
    /// A new converter.
    pub fn new() -> Offload {
        Offload::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> &OffloadStats {
        &self.stats
    }

    /// Takes one read from the device (header + frame) and calls `out` with each plain frame
    /// it stands for: the frame itself (checksum completed if needed) or, for a TCP
    /// super-frame, its segments in order. On error nothing is passed on.
    pub fn split(
        &mut self,
        read: &mut [u8],
        mut out: impl FnMut(&mut [u8]),
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
        out: &mut impl FnMut(&mut [u8]),
    ) -> Result<(), OffloadError> {
        let hdr = VnetHdr::parse(read).ok_or(OffloadError::Truncated)?;
        let frame = &mut read[VNET_HDR_LEN..];
        match hdr.gso_type & !GSO_ECN {
            GSO_NONE => {
                if hdr.flags & F_NEEDS_CSUM != 0 {
                    complete_checksum(frame, hdr)?;
                    self.stats.checksums_completed += 1;
                }
                out(frame);
                Ok(())
            }
            GSO_TCPV4 | GSO_TCPV6 => self.segment(frame, hdr, out),
            _ => Err(OffloadError::Unsupported),
        }
    }

    /// Cuts a TCP super-frame into segments of `gso_size` payload bytes each (RFC 9293 §3.7.4:
    /// each carries the sequence number of its first byte; FIN and PSH stay on the last,
    /// CWR on the first; IPv4 identification numbers count up), with full checksums.
    fn segment(
        &mut self,
        frame: &[u8],
        hdr: VnetHdr,
        out: &mut impl FnMut(&mut [u8]),
    ) -> Result<(), OffloadError> {
        let h = Headers::parse(frame).ok_or(OffloadError::Unsupported)?;
        let mss = usize::from(hdr.gso_size);
        let payload = &frame[h.total..];
        if mss == 0 {
            return Err(OffloadError::Unsupported);
        }
        self.stats.super_frames += 1;
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
            let ip_len = seg.len() - ETH_LEN;
            if h.v6 {
                let payload_len = (ip_len - 40) as u16;
                seg[ETH_LEN + 4..ETH_LEN + 6].copy_from_slice(&payload_len.to_be_bytes());
            } else {
                seg[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&(ip_len as u16).to_be_bytes());
                let id = u16::from_be_bytes([seg[ETH_LEN + 4], seg[ETH_LEN + 5]]);
                seg[ETH_LEN + 4..ETH_LEN + 6]
                    .copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
                seg[ETH_LEN + 10..ETH_LEN + 12].fill(0);
                let sum = checksum::checksum_of(&seg[ETH_LEN..h.tcp]);
                seg[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&sum.to_be_bytes());
            }
            let tcp_len = seg.len() - h.tcp;
            seg[h.tcp + 16..h.tcp + 18].fill(0);
            let pseudo = checksum::pseudo_header(&h.src, &h.dst, ip_protocol::TCP, tcp_len as u32);
            let sum = !checksum::combine(&[pseudo, checksum::data(&seg[h.tcp..])]);
            seg[h.tcp + 16..h.tcp + 18].copy_from_slice(&sum.to_be_bytes());
            self.stats.segments += 1;
            self.stats.checksums_completed += 1;
            out(seg);
        }
        self.scratch = scratch;
        Ok(())
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
        off.split(&mut read, |s| segs.push(s.to_vec())).unwrap();
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
            .split(&mut read, |f| got.push(f.to_vec()))
            .unwrap();
        assert_eq!(got, vec![frame]);
    }

    #[test]
    fn plain_frames_pass_and_bad_ones_are_refused() {
        let frame = tcp_frame("fd00::1", "fd00::2", TcpFlags::ACK, b"x");
        let mut read = with_hdr(VnetHdr::default(), &frame);
        let mut got = Vec::new();
        let mut off = Offload::new();
        off.split(&mut read, |f| got.push(f.to_vec())).unwrap();
        assert_eq!(got, vec![frame.clone()]);

        let bad = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 5000,
            ..VnetHdr::default()
        };
        assert_eq!(
            off.split(&mut with_hdr(bad, &frame), |_| panic!()),
            Err(OffloadError::BadChecksumOffset)
        );
        let udp = VnetHdr {
            gso_type: 3,
            ..VnetHdr::default()
        };
        assert_eq!(
            off.split(&mut with_hdr(udp, &frame), |_| panic!()),
            Err(OffloadError::Unsupported)
        );
        assert_eq!(
            off.split(&mut [0u8; 4], |_| panic!()),
            Err(OffloadError::Truncated)
        );
        assert_eq!(off.stats().errors, 3);
    }
}
