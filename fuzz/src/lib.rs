//! Helpers shared by the sanstcp fuzz targets (`fuzz_targets/*.rs`).
//!
//! * [`Records`]: the framing every stateful target uses for its input: a sequence of
//!   `[opcode u8][length u16 LE][body]` records, so that seeds can be written by hand (see
//!   [`record`]) and a mutation inside one record leaves the others intact. Bodies are decoded
//!   with `arbitrary` (integers little-endian, missing bytes read as zero).
//! * [`Tracker`]: wraps a [`Stack`], counts what `handle_packet` returned and what
//!   `poll_transmit` produced, checks every outgoing packet ([`check_transmit`]) and the stack's
//!   counters against those counts ([`Tracker::check_stats`]).
//! * [`check_info`]: the per-connection invariants readable through [`Stack::info`].
//! * Packet builders ([`ip_packet`], [`tcp_packet`]) and the byte pattern of test streams.

use std::net::{IpAddr, SocketAddr};

use sanstcp::wire::{ip_protocol, Icmpv4Repr, Icmpv6Repr, IpRepr, TcpFlags, TcpOptions, TcpRepr};
use sanstcp::{
    CongestionAlgorithm, ConnInfo, DropReason, Input, Instant, Stack, StackConfig, SynCookieMode,
    TcpState, Transmit,
};

// ---- input framing ------------------------------------------------------------------------------

/// Iterates over the `[opcode][len u16 LE][body]` records of a fuzz input. A length running
/// past the end takes what is left; a trailing lone opcode gets an empty body.
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Records<'a> {
    /// Records of `data`.
    pub fn new(data: &'a [u8]) -> Records<'a> {
        Records { rest: data }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (u8, &'a [u8]);
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&op, rest) = self.rest.split_first()?;
        let len = match rest {
            [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
            _ => 0,
        };
        let rest = rest.get(2..).unwrap_or(&[]);
        let len = len.min(rest.len());
        let (body, rest) = rest.split_at(len);
        self.rest = rest;
        Some((op, body))
    }
}

/// Encodes one record (for seed corpora).
pub fn record(op: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len()).expect("record body too long");
    let mut out = vec![op];
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Decodes `T` from a record body with `arbitrary`; a short body reads as zeros.
pub fn decode<'a, T: arbitrary::Arbitrary<'a>>(body: &'a [u8]) -> (T, &'a [u8]) {
    let mut u = arbitrary::Unstructured::new(body);
    let v = T::arbitrary(&mut u).expect("arbitrary on fixed-size fields cannot fail");
    let used = body.len() - u.len();
    (v, &body[used..])
}

// ---- test data ----------------------------------------------------------------------------------

/// The byte at position `i` of test stream `stream`.
pub fn pattern(stream: u64, i: u64) -> u8 {
    let x = (i ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0x2545_f491_4f6c_dd1d);
    (x >> 29) as u8
}

/// `len` bytes of stream `stream` from position `start`.
pub fn pattern_bytes(stream: u64, start: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| pattern(stream, start + i))
        .collect()
}

// ---- packet builders ----------------------------------------------------------------------------

/// An IP packet (IPv4 or IPv6 by the family of `src`) carrying `payload`.
pub fn ip_packet(src: IpAddr, dst: IpAddr, protocol: u8, ecn: u8, payload: &[u8]) -> Vec<u8> {
    let ip = IpRepr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len: payload.len(),
        hop_limit: 64,
        ecn: ecn & 3,
    };
    let h = ip.header_len();
    let mut buf = vec![0u8; h + payload.len()];
    ip.emit(&mut buf[..h]);
    buf[h..].copy_from_slice(payload);
    buf
}

/// A TCP segment from `src` to `dst` in an IP packet, with a valid checksum.
pub fn tcp_packet(src: SocketAddr, dst: SocketAddr, tcp: &TcpRepr<'_>, ecn: u8) -> Vec<u8> {
    let mut seg = vec![0u8; tcp.segment_len()];
    tcp.emit(&mut seg, &src.ip(), &dst.ip());
    ip_packet(src.ip(), dst.ip(), ip_protocol::TCP, ecn, &seg)
}

/// A TCP header template: no options, no payload.
pub fn tcp_repr(
    src: u16,
    dst: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
) -> TcpRepr<'static> {
    TcpRepr {
        src_port: src,
        dst_port: dst,
        seq,
        ack,
        flags,
        window,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    }
}

// ---- what the stack sends -----------------------------------------------------------------------

/// A TCP segment the stack sent, as parsed back.
#[derive(Debug, Clone)]
pub struct SentSegment {
    /// Sender (one of the stack's addresses).
    pub local: SocketAddr,
    /// Receiver.
    pub remote: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Checks one packet written by `poll_transmit`: it fits the MTU, parses back (IP, then TCP or
/// ICMP with verified checksums), its addresses are those `t` reports, its source is local, and
/// it is a TCP segment or an echo reply. Returns the TCP segment, if it is one.
pub fn check_transmit(stack: &Stack, t: &Transmit, buf: &[u8]) -> Option<SentSegment> {
    let cfg = stack.config();
    assert!(
        t.len <= cfg.mtu,
        "transmit of {} bytes over the MTU {}",
        t.len,
        cfg.mtu
    );
    let packet = &buf[..t.len];
    let (ip, payload) = IpRepr::parse(packet).unwrap_or_else(|e| {
        panic!("the stack sent a packet that does not parse ({e}): {packet:02x?}")
    });
    assert_eq!(ip.src_addr, t.src, "Transmit.src differs from the packet");
    assert_eq!(ip.dst_addr, t.dst, "Transmit.dst differs from the packet");
    assert!(
        stack.is_local(ip.src_addr),
        "packet sent from a foreign address {}",
        ip.src_addr
    );
    assert_eq!(ip.total_len(), t.len, "IP length differs from Transmit.len");
    match ip.protocol {
        ip_protocol::TCP => {
            let seg =
                TcpRepr::parse(payload, &ip.src_addr, &ip.dst_addr, true).unwrap_or_else(|e| {
                    panic!("the stack sent a bad TCP segment ({e}): {packet:02x?}")
                });
            let f = seg.flags;
            assert!(
                !(f.contains(TcpFlags::SYN) && f.contains(TcpFlags::RST)),
                "SYN and RST in one segment"
            );
            assert!(
                !(f.contains(TcpFlags::SYN) && f.contains(TcpFlags::FIN)),
                "SYN and FIN in one segment"
            );
            Some(SentSegment {
                local: SocketAddr::new(ip.src_addr, seg.src_port),
                remote: SocketAddr::new(ip.dst_addr, seg.dst_port),
                seq: seg.seq,
                ack: seg.ack,
                flags: seg.flags,
                payload: seg.payload.to_vec(),
            })
        }
        ip_protocol::ICMP => {
            let m = Icmpv4Repr::parse(payload).expect("the stack sent a bad ICMP message");
            assert!(
                matches!(m, Icmpv4Repr::EchoReply { .. }),
                "unexpected ICMP {m:?}"
            );
            None
        }
        ip_protocol::ICMPV6 => {
            let (IpAddr::V6(s), IpAddr::V6(d)) = (ip.src_addr, ip.dst_addr) else {
                panic!("ICMPv6 over IPv4");
            };
            let m =
                Icmpv6Repr::parse(payload, &s, &d).expect("the stack sent a bad ICMPv6 message");
            assert!(
                matches!(m, Icmpv6Repr::EchoReply { .. }),
                "unexpected ICMPv6 {m:?}"
            );
            None
        }
        p => panic!("the stack sent protocol {p}"),
    }
}

/// Most packets one drain may produce before the stack is taken to be stuck in a loop.
pub const MAX_DRAIN: usize = 100_000;

/// A stack with the counts the fuzz targets check its [`sanstcp::Stats`] against.
pub struct Tracker {
    /// The stack.
    pub stack: Stack,
    /// `handle_packet` calls that returned [`Input::Accepted`].
    pub accepted: u64,
    /// `handle_packet` drops by reason, in [`DropReason::ALL`] order.
    pub drops: [u64; DropReason::COUNT],
    /// Packets `poll_transmit` returned.
    pub sent: u64,
    /// Payload bytes the application handed to `send` and the stack took.
    pub app_sent: u64,
    /// Payload bytes the application read with `recv`.
    pub app_received: u64,
    buf: Vec<u8>,
    /// `handle_timeout` ran at this instant and no drain has followed yet.
    timed_out_at: Option<Instant>,
}

impl Tracker {
    /// A tracker around a new stack with `cfg`.
    pub fn new(cfg: StackConfig) -> Tracker {
        let mtu = cfg.mtu;
        Tracker {
            stack: Stack::new(cfg).expect("valid config"),
            accepted: 0,
            drops: [0; DropReason::COUNT],
            sent: 0,
            app_sent: 0,
            app_received: 0,
            buf: vec![0; mtu],
            timed_out_at: None,
        }
    }

    /// Hands a packet to the stack and counts the outcome.
    pub fn feed(&mut self, now: Instant, packet: &[u8]) -> Input {
        let r = self.stack.handle_packet(now, packet);
        match r {
            Input::Accepted => self.accepted += 1,
            Input::Dropped(reason) => {
                let i = DropReason::ALL
                    .iter()
                    .position(|x| *x == reason)
                    .expect("known reason");
                self.drops[i] += 1;
            }
        }
        r
    }

    /// Takes every packet the stack has queued, checking each; `sink` gets the packet bytes
    /// and, for TCP, the parsed segment. After [`Tracker::timeout`]`(now)` and this drain, no
    /// deadline may be left at or before `now`: a driver that sleeps until `poll_timeout`
    /// would spin.
    pub fn drain(&mut self, now: Instant, mut sink: impl FnMut(&[u8], Option<SentSegment>)) {
        for _ in 0..MAX_DRAIN {
            let Some(t) = self.stack.poll_transmit(now, &mut self.buf) else {
                if self.timed_out_at.take() == Some(now) {
                    if let Some(t) = self.stack.poll_timeout() {
                        assert!(
                            t > now,
                            "poll_timeout() = {t} is not after handle_timeout({now}) and a drain"
                        );
                    }
                }
                return;
            };
            self.sent += 1;
            let seg = check_transmit(&self.stack, &t, &self.buf);
            sink(&self.buf[..t.len], seg);
        }
        panic!("poll_transmit did not run dry after {MAX_DRAIN} packets");
    }

    /// Runs the timers due at `now`; the next [`Tracker::drain`] checks that none is left.
    pub fn timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
        self.timed_out_at = Some(now);
    }

    /// `Stats` agrees with what the caller saw: every packet in is accepted or dropped for one
    /// counted reason, every packet out was returned by `poll_transmit`, and the byte counters
    /// bound what the application moved.
    pub fn check_stats(&self) {
        let st = self.stack.stats();
        assert_eq!(
            st.packets_in,
            self.accepted + st.dropped_total(),
            "packets_in != accepted + dropped_total"
        );
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(
                st.dropped(*reason),
                self.drops[i],
                "drop counter {reason:?}"
            );
        }
        assert_eq!(st.packets_out, self.sent, "packets_out != packets polled");
        assert!(st.segments_in <= st.packets_in, "segments_in > packets_in");
        assert!(
            st.segments_out <= st.packets_out,
            "segments_out > packets_out"
        );
        assert!(st.resets_in <= st.segments_in, "resets_in > segments_in");
        assert!(
            st.bytes_sent <= self.app_sent,
            "bytes_sent {} > bytes queued {}",
            st.bytes_sent,
            self.app_sent
        );
        assert!(
            self.app_received <= st.bytes_received,
            "application read {} bytes, stack received {}",
            self.app_received,
            st.bytes_received
        );
    }
}

/// Buffer sizes of one connection, for [`check_info`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Send-buffer size.
    pub send_buffer: usize,
    /// Receive-buffer size.
    pub recv_buffer: usize,
}

/// Invariants of one connection's [`ConnInfo`]: SND.UNA ≤ SND.NXT ≤ SND.MAX in sequence space,
/// the flight bounded by the send queue, windows within the buffers (never "negative", i.e.
/// wrapped), MSS and MTU within bounds, RTO within its configured range.
pub fn check_info(info: &ConnInfo, cfg: &StackConfig, lim: Limits) {
    let ctx = || format!("{info:#?}");
    assert!(
        info.send_queued <= lim.send_buffer,
        "send queue over its buffer: {}",
        ctx()
    );
    assert!(
        info.recv_queued <= lim.recv_buffer,
        "receive queue over its buffer: {}",
        ctx()
    );
    assert!(
        info.snd_wnd <= 0xffff << 14,
        "send window beyond the largest scaled window: {}",
        ctx()
    );
    if info.state == TcpState::Closed {
        return;
    }
    let nxt_ahead = info.snd_nxt.wrapping_sub(info.snd_una);
    assert!(nxt_ahead as i32 >= 0, "SND.NXT before SND.UNA: {}", ctx());
    assert!(
        nxt_ahead <= info.bytes_in_flight,
        "SND.NXT beyond SND.MAX: {}",
        ctx()
    );
    assert!(
        info.bytes_in_flight as usize <= info.send_queued + 2,
        "more in flight than queued (+SYN+FIN): {}",
        ctx()
    );
    assert!(
        info.rcv_wnd as usize + info.recv_queued <= lim.recv_buffer,
        "window + unread data over the receive buffer: {}",
        ctx()
    );
    assert!(
        info.reassembly_queued <= info.rcv_wnd as usize,
        "out-of-order data outside the window: {}",
        ctx()
    );
    let v6 = info.local.is_ipv6();
    let (overhead, floor) = if v6 { (60, 1280) } else { (40, 576) };
    assert!(
        info.path_mtu as usize <= cfg.mtu && info.path_mtu >= floor,
        "path MTU out of range: {}",
        ctx()
    );
    assert!(
        info.mss >= 64 && info.mss <= info.path_mtu - overhead,
        "MSS out of range: {}",
        ctx()
    );
    // Without congestion control the window never limits and is not kept up.
    if info.congestion != CongestionAlgorithm::None {
        assert!(info.cwnd > 0, "zero congestion window: {}", ctx());
    }
    let (lo, hi) = (cfg.rto_min, cfg.rto_max.max(cfg.rto_min));
    assert!(
        info.rto >= lo && info.rto <= hi,
        "RTO out of range: {}",
        ctx()
    );
    // A CLOSE in SYN-RECEIVED goes to FIN-WAIT-1 with our SYN still unacknowledged (RFC 9293
    // §3.10.4), and from there to CLOSING; every other synchronized state needs the ACK.
    let may_lack_ack = matches!(info.state, TcpState::FinWait1 | TcpState::Closing);
    if info.state.is_synchronized() && !may_lack_ack {
        let una = info.snd_una.wrapping_sub(info.iss);
        assert!(
            una >= 1 && (una as i32) > 0,
            "synchronized but SYN not acknowledged: {}",
            ctx()
        );
    }
    if info.state.is_synchronized() {
        let nxt = info.rcv_nxt.wrapping_sub(info.irs);
        assert!(
            nxt >= 1 && (nxt as i32) > 0,
            "synchronized but peer SYN not received: {}",
            ctx()
        );
    }
    if info.state == TcpState::SynSent {
        assert_eq!(
            info.snd_una,
            info.iss,
            "SYN-SENT with SND.UNA moved: {}",
            ctx()
        );
    }
}

/// Whether `SANSTCP_FUZZ_TRACE` is set: targets then print what they do, to debug a crash
/// found by the fuzzer (`cargo fuzz run TARGET ARTIFACT` with the variable set).
pub fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SANSTCP_FUZZ_TRACE").is_some())
}

/// Prints a line when [`tracing`] is on.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::tracing() {
            eprintln!($($arg)*);
        }
    };
}

/// A one-line summary of an IP packet, for traces.
pub fn summary(p: &[u8]) -> String {
    match IpRepr::parse(p) {
        Ok((ip, payload)) if ip.protocol == ip_protocol::TCP => {
            match TcpRepr::parse(payload, &ip.src_addr, &ip.dst_addr, false) {
                Ok(t) => format!("{} -> {}: {t}", ip.src_addr, ip.dst_addr),
                Err(e) => format!("{} -> {}: bad TCP ({e})", ip.src_addr, ip.dst_addr),
            }
        }
        Ok((ip, payload)) => format!(
            "{} -> {}: protocol {} len {}",
            ip.src_addr,
            ip.dst_addr,
            ip.protocol,
            payload.len()
        ),
        Err(e) => format!("{} bytes, not IP ({e})", p.len()),
    }
}

/// Applies a 4-bit feature selection: bit 0 turns timestamps off, bit 1 SACK off, bit 2 ECN
/// on, bit 3 pacing on.
pub fn apply_features(cfg: &mut StackConfig, bits: u8) {
    cfg.timestamps = bits & 1 == 0;
    cfg.sack = bits & 2 == 0;
    cfg.ecn = bits & 4 != 0;
    cfg.pacing = bits & 8 != 0;
}

/// Applies a 4-bit selection of congestion control (bits 0-1: NewReno, CUBIC, none, NewReno)
/// and SYN-cookie mode (bits 2-3: auto, always, never, auto).
pub fn apply_algorithms(cfg: &mut StackConfig, bits: u8) {
    cfg.congestion = match bits & 3 {
        1 => CongestionAlgorithm::Cubic,
        2 => CongestionAlgorithm::None,
        _ => CongestionAlgorithm::NewReno,
    };
    cfg.syn_cookies = match (bits >> 2) & 3 {
        1 => SynCookieMode::Always,
        2 => SynCookieMode::Never,
        _ => SynCookieMode::Auto,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_roundtrip() {
        let mut data = record(3, b"abc");
        data.extend(record(7, b""));
        data.extend([9u8, 200, 0, 1, 2]);
        let got: Vec<(u8, Vec<u8>)> = Records::new(&data).map(|(o, b)| (o, b.to_vec())).collect();
        assert_eq!(
            got,
            vec![(3, b"abc".to_vec()), (7, vec![]), (9, vec![1, 2])]
        );
    }

    #[test]
    fn decode_is_little_endian_and_zero_filled() {
        #[derive(arbitrary::Arbitrary, Debug, PartialEq)]
        struct S {
            a: u16,
            b: bool,
            c: u32,
        }
        let (s, rest) = decode::<S>(&[0x34, 0x12, 1, 0x78]);
        assert_eq!(
            s,
            S {
                a: 0x1234,
                b: true,
                c: 0x78
            }
        );
        assert!(rest.is_empty());
        let (s, rest) = decode::<S>(&[1, 0, 0, 1, 0, 0, 0, 0xaa]);
        assert_eq!(
            s,
            S {
                a: 1,
                b: false,
                c: 1
            }
        );
        assert_eq!(rest, &[0xaa]);
    }
}
