//! Transmission Control Protocol segments (RFC 9293 §3.1) and options
//! (RFC 9293 §3.2 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::checksum;
use super::field;
use super::ip_protocol;
use super::{Result, WireError};
use core::fmt;
use core::net::IpAddr;
use core::ops::{BitAnd, BitOr, BitOrAssign};

/// The control bits of a TCP header (RFC 9293 §3.1; ECE and CWR from
/// RFC 3168 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN-Echo (RFC 3168 §6.1).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion Window Reduced (RFC 3168 §6.1).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// The eight control bits defined by RFC 9293 §3.1.
    pub const ALL: TcpFlags = TcpFlags(0x0ff);

    /// The empty flag set.
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// Whether every flag in `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag in `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags in `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags in `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    /// tcpdump-style: `S` SYN, `F` FIN, `R` RST, `P` PSH, `.` ACK, `U` URG,
    /// `E` ECE, `W` CWR, in bit order (so SYN|ACK is `S.`); `none` if empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        const NAMES: [(TcpFlags, char); 8] = [
            (TcpFlags::FIN, 'F'),
            (TcpFlags::SYN, 'S'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, '.'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
        ];
        for (flag, c) in NAMES {
            if self.contains(flag) {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// One SACK block: the sequence space `[left, right)` received out of order
/// (RFC 2018 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SackBlock {
    /// Left Edge: first sequence number of the block.
    pub left: u32,
    /// Right Edge: sequence number following the last byte of the block.
    pub right: u32,
}

/// TCP option kinds (IANA "TCP Option Kind Numbers").
pub mod option_kind {
    /// End of Option List (RFC 9293 §3.2).
    pub const END: u8 = 0;
    /// No-Operation (RFC 9293 §3.2).
    pub const NOP: u8 = 1;
    /// Maximum Segment Size (RFC 9293 §3.2, §3.7.1).
    pub const MSS: u8 = 2;
    /// Window Scale (RFC 7323 §2.2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK-Permitted (RFC 2018 §2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018 §3).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323 §3.2).
    pub const TIMESTAMPS: u8 = 8;
}

/// Largest TCP options area: a data offset of 15 words minus the fixed
/// 20-byte header (RFC 9293 §3.1).
pub const MAX_OPTIONS_LEN: usize = 40;

/// Largest window scale shift accepted (RFC 7323 §2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;

/// The TCP options this stack understands.
///
/// Equality compares only the valid SACK blocks (see
/// [`sack_blocks`](Self::sack_blocks)), not the unused storage slots.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpOptions {
    /// Maximum Segment Size (RFC 9293 §3.7.1), only valid on SYN.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 §2), only valid on SYN.
    pub window_scale: Option<u8>,
    /// SACK-Permitted (RFC 2018 §2), only valid on SYN.
    pub sack_permitted: bool,
    /// Storage for up to four SACK blocks (RFC 2018 §3); only the first
    /// `sack_count` are meaningful.
    pub sack_blocks: [SackBlock; 4],
    /// Number of valid entries in `sack_blocks` (0..=4).
    pub sack_count: u8,
    /// Timestamps option (RFC 7323 §3): `(TSval, TSecr)`.
    pub timestamps: Option<(u32, u32)>,
}

impl PartialEq for TcpOptions {
    fn eq(&self, other: &TcpOptions) -> bool {
        self.mss == other.mss
            && self.window_scale == other.window_scale
            && self.sack_permitted == other.sack_permitted
            && self.sack_blocks() == other.sack_blocks()
            && self.timestamps == other.timestamps
    }
}

impl Eq for TcpOptions {}

impl TcpOptions {
    /// The valid SACK blocks.
    pub fn sack_blocks(&self) -> &[SackBlock] {
        let n = usize::from(self.sack_count).min(self.sack_blocks.len());
        self.sack_blocks.get(..n).unwrap_or(&[])
    }

    /// Replaces the SACK blocks with (at most four of) `blocks`.
    pub fn set_sack_blocks(&mut self, blocks: &[SackBlock]) {
        let n = blocks.len().min(self.sack_blocks.len());
        for (dst, src) in self.sack_blocks.iter_mut().zip(blocks) {
            *dst = *src;
        }
        self.sack_count = n as u8;
    }

    /// Length of everything except the SACK blocks.
    fn fixed_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamps.is_some() {
            // "SACKperm TS" or "NOP NOP TS".
            n += 12;
        } else if self.sack_permitted {
            // "NOP NOP SACKperm".
            n += 4;
        }
        if self.window_scale.is_some() {
            // "NOP WS".
            n += 4;
        }
        n
    }

    /// How many SACK blocks are emitted: as many as fit after the other
    /// options (RFC 2018 §3: at most 3 alongside timestamps).
    pub fn sack_emit_count(&self) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(self.fixed_len());
        // "NOP NOP kind len" then 8 bytes per block.
        let fit = room.saturating_sub(4) / 8;
        self.sack_blocks().len().min(fit)
    }

    /// Length of the encoded options, a multiple of 4 and at most 40.
    pub fn encoded_len(&self) -> usize {
        let n = self.sack_emit_count();
        self.fixed_len() + if n > 0 { 4 + 8 * n } else { 0 }
    }

    /// Parses the options area of a TCP header (RFC 9293 §3.2).
    ///
    /// End of Option List stops parsing and NOPs are skipped. Every other
    /// option has a length octet that must be at least 2 and must not run
    /// past the area ([`WireError::Malformed`] otherwise). Unknown kinds,
    /// and known kinds with a wrong length, are skipped by their length.
    /// A window scale above 14 is clamped to 14 (RFC 7323 §2.3).
    pub fn parse(mut bytes: &[u8]) -> Result<TcpOptions> {
        let mut out = TcpOptions::default();
        while let Some((&kind, rest)) = bytes.split_first() {
            match kind {
                option_kind::END => break,
                option_kind::NOP => {
                    bytes = rest;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*rest.first().ok_or(WireError::Malformed)?);
            if len < 2 {
                return Err(WireError::Malformed);
            }
            let option = bytes.get(..len).ok_or(WireError::Malformed)?;
            let data = option.get(2..).unwrap_or(&[]);
            match (kind, data) {
                (option_kind::MSS, &[a, b]) => out.mss = Some(u16::from_be_bytes([a, b])),
                (option_kind::WINDOW_SCALE, &[shift]) => {
                    out.window_scale = Some(shift.min(MAX_WINDOW_SCALE));
                }
                (option_kind::SACK_PERMITTED, &[]) => out.sack_permitted = true,
                (option_kind::SACK, blocks)
                    if !blocks.is_empty() && blocks.len() % 8 == 0 && blocks.len() <= 32 =>
                {
                    let mut count = 0u8;
                    for (slot, chunk) in out.sack_blocks.iter_mut().zip(blocks.chunks_exact(8)) {
                        *slot = SackBlock {
                            left: field::u32_at(chunk, 0),
                            right: field::u32_at(chunk, 4),
                        };
                        count += 1;
                    }
                    out.sack_count = count;
                }
                (option_kind::TIMESTAMPS, ts) if ts.len() == 8 => {
                    out.timestamps = Some((field::u32_at(ts, 0), field::u32_at(ts, 4)));
                }
                _ => {}
            }
            bytes = bytes.get(len..).unwrap_or(&[]);
        }
        Ok(out)
    }

    /// Writes the options to the start of `buf` and returns
    /// [`encoded_len`](Self::encoded_len). Layout: MSS; SACK-permitted and
    /// timestamps as "SACKperm TS", "NOP NOP TS" or "NOP NOP SACKperm";
    /// window scale as "NOP WS"; SACK blocks as "NOP NOP SACK" — every
    /// option 4-byte aligned, as Linux does. `buf` must hold
    /// `encoded_len()` bytes (debug-asserted; truncated in release).
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.encoded_len();
        debug_assert!(buf.len() >= len, "tcp options emit: buffer too short");
        let mut w = Writer { buf, at: 0 };
        if let Some(mss) = self.mss {
            w.put(&[option_kind::MSS, 4]);
            w.put(&mss.to_be_bytes());
        }
        match (self.sack_permitted, self.timestamps) {
            (sack_perm, Some((tsval, tsecr))) => {
                if sack_perm {
                    w.put(&[option_kind::SACK_PERMITTED, 2]);
                } else {
                    w.put(&[option_kind::NOP, option_kind::NOP]);
                }
                w.put(&[option_kind::TIMESTAMPS, 10]);
                w.put(&tsval.to_be_bytes());
                w.put(&tsecr.to_be_bytes());
            }
            (true, None) => {
                w.put(&[option_kind::NOP, option_kind::NOP]);
                w.put(&[option_kind::SACK_PERMITTED, 2]);
            }
            (false, None) => {}
        }
        if let Some(shift) = self.window_scale {
            w.put(&[option_kind::NOP, option_kind::WINDOW_SCALE, 3, shift]);
        }
        let n = self.sack_emit_count();
        if n > 0 {
            w.put(&[option_kind::NOP, option_kind::NOP, option_kind::SACK]);
            w.put(&[(2 + 8 * n) as u8]);
            for block in self.sack_blocks().iter().take(n) {
                w.put(&block.left.to_be_bytes());
                w.put(&block.right.to_be_bytes());
            }
        }
        debug_assert_eq!(w.at, len);
        len
    }
}

/// A cursor writing into a buffer, silently dropping what does not fit.
struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        field::set_bytes(self.buf, self.at, bytes);
        self.at += bytes.len();
    }
}

mod offs {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ: usize = 4;
    pub(super) const ACK: usize = 8;
    pub(super) const OFF_FLAGS: usize = 12;
    pub(super) const WINDOW: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
    pub(super) const OPTIONS: usize = 20;
}

/// A zero-copy view of a TCP segment (header and payload).
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

super::view_wrapping!(TcpPacket);

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = offs::OPTIONS;

    /// Checks that the buffer holds the fixed header
    /// ([`WireError::Truncated`]) and that the data offset is at least 5
    /// and within the buffer ([`WireError::Malformed`]) (RFC 9293 §3.1).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < Self::MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < Self::MIN_HEADER_LEN || header_len > len {
            return Err(WireError::Malformed);
        }
        Ok(())
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        field::u16_at(self.buf(), offs::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        field::u16_at(self.buf(), offs::DST_PORT)
    }

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        field::u32_at(self.buf(), offs::SEQ)
    }

    /// Acknowledgment number.
    pub fn ack_number(&self) -> u32 {
        field::u32_at(self.buf(), offs::ACK)
    }

    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> u8 {
        (field::u8_at(self.buf(), offs::OFF_FLAGS) >> 4) * 4
    }

    /// The 12 bits following the data offset: the eight control bits and
    /// the four reserved bits (as sent).
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(field::u16_at(self.buf(), offs::OFF_FLAGS) & 0x0fff)
    }

    /// Window.
    pub fn window_len(&self) -> u16 {
        field::u16_at(self.buf(), offs::WINDOW)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        field::u16_at(self.buf(), offs::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        field::u16_at(self.buf(), offs::URGENT)
    }

    fn header_end(&self) -> usize {
        usize::from(self.header_len()).min(self.buf().len())
    }

    /// The option bytes (clamped to the buffer).
    pub fn options(&self) -> &[u8] {
        let end = self.header_end();
        self.buf().get(offs::OPTIONS.min(end)..end).unwrap_or(&[])
    }

    /// The payload: everything after the header.
    pub fn payload(&self) -> &[u8] {
        let start = self.header_end();
        self.buf().get(start..).unwrap_or(&[])
    }

    /// Sum over the pseudo header and the whole segment.
    fn sum_with_pseudo(&self, src: &IpAddr, dst: &IpAddr) -> u16 {
        let buf = self.buf();
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        checksum::combine(&[
            checksum::pseudo_header(src, dst, ip_protocol::TCP, len),
            checksum::data(buf),
        ])
    }

    /// Whether the checksum over the pseudo header (RFC 9293 §3.1) and the
    /// whole buffer verifies.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        self.sum_with_pseudo(src, dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        field::set_u16(self.buf_mut(), offs::SRC_PORT, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        field::set_u16(self.buf_mut(), offs::DST_PORT, value);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, value: u32) {
        field::set_u32(self.buf_mut(), offs::SEQ, value);
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, value: u32) {
        field::set_u32(self.buf_mut(), offs::ACK, value);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: u8) {
        let b = field::u8_at(self.buf(), offs::OFF_FLAGS);
        field::set_u8(
            self.buf_mut(),
            offs::OFF_FLAGS,
            (b & 0x0f) | (((len / 4) & 0x0f) << 4),
        );
    }

    /// Sets the 12 bits after the data offset (control and reserved bits).
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let w = field::u16_at(self.buf(), offs::OFF_FLAGS);
        field::set_u16(
            self.buf_mut(),
            offs::OFF_FLAGS,
            (w & 0xf000) | (flags.0 & 0x0fff),
        );
    }

    /// Sets the window.
    pub fn set_window_len(&mut self, value: u16) {
        field::set_u16(self.buf_mut(), offs::WINDOW, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        field::set_u16(self.buf_mut(), offs::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, value: u16) {
        field::set_u16(self.buf_mut(), offs::URGENT, value);
    }

    /// The mutable option bytes (bounded by the data offset).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_end();
        self.buf_mut()
            .get_mut(offs::OPTIONS.min(end)..end)
            .unwrap_or(&mut [])
    }

    /// The mutable payload.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_end();
        self.buf_mut().get_mut(start..).unwrap_or(&mut [])
    }

    /// Computes and stores the checksum over the pseudo header and the whole
    /// buffer (RFC 9293 §3.1).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let sum = self.sum_with_pseudo(src, dst);
        self.set_checksum(!sum);
    }
}

/// High-level representation of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with ACK).
    pub ack: u32,
    /// Control bits (only the eight defined ones are parsed).
    pub flags: TcpFlags,
    /// Window (unscaled, as on the wire).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
    /// Segment data.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = offs::OPTIONS;

    /// Parses a whole TCP segment (header and payload, the IP payload).
    ///
    /// Checks the data offset (≥ 5 and within `segment`), verifies the
    /// checksum against the pseudo header built from `src`/`dst` when
    /// `verify_checksum` is set ([`WireError::BadChecksum`]), rejects port 0
    /// ([`WireError::Malformed`]; port 0 is reserved) and parses the options
    /// ([`TcpOptions::parse`]). Reserved header bits are ignored
    /// (RFC 9293 §3.1).
    pub fn parse(
        segment: &'a [u8],
        src: &IpAddr,
        dst: &IpAddr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>> {
        let p = TcpPacket::new_checked(segment)?;
        if verify_checksum && !p.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        if p.src_port() == 0 || p.dst_port() == 0 {
            return Err(WireError::Malformed);
        }
        let options = TcpOptions::parse(p.options())?;
        let header_len = usize::from(p.header_len());
        Ok(TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            flags: p.flags() & TcpFlags::ALL,
            window: p.window_len(),
            urgent: p.urgent_at(),
            options,
            payload: segment.get(header_len..).unwrap_or(&[]),
        })
    }

    /// Header length: 20 plus [`TcpOptions::encoded_len`].
    pub fn header_len(&self) -> usize {
        Self::MIN_HEADER_LEN + self.options.encoded_len()
    }

    /// Header plus payload length.
    pub fn segment_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space consumed: payload length plus one for each of SYN
    /// and FIN (RFC 9293 §3.4).
    pub fn seq_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes header, options and payload to `buf[..segment_len()]`, fills
    /// the checksum and returns `segment_len()`.
    ///
    /// The caller guarantees `buf.len() >= segment_len()` (debug-asserted;
    /// in release a short buffer is written partially, without panicking).
    pub fn emit(&self, buf: &mut [u8], src: &IpAddr, dst: &IpAddr) -> usize {
        let header_len = self.header_len();
        let end = header_len + self.payload.len();
        debug_assert!(buf.len() >= end, "tcp emit: buffer too short");
        field::set_bytes(buf, header_len, self.payload);
        self.emit_header_in_place(buf, self.payload.len(), src, dst)
    }

    /// Like [`emit`](Self::emit), but the payload (`payload_len` bytes) is
    /// already in place at `buf[header_len()..]` and `self.payload` is
    /// ignored: writes header and options, then the checksum over
    /// `buf[..header_len() + payload_len]`. Returns that length.
    ///
    /// The caller guarantees `buf` is long enough (debug-asserted).
    pub fn emit_header_in_place(
        &self,
        buf: &mut [u8],
        payload_len: usize,
        src: &IpAddr,
        dst: &IpAddr,
    ) -> usize {
        let header_len = self.header_len();
        let total = header_len + payload_len;
        debug_assert!(buf.len() >= total, "tcp emit: buffer too short");
        let (segment, _) = buf.split_at_mut(total.min(buf.len()));
        let mut p = TcpPacket::new_unchecked(segment);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq);
        p.set_ack_number(self.ack);
        // Reserved bits are zero on send (RFC 9293 §3.1).
        field::set_u16(p.buf_mut(), offs::OFF_FLAGS, 0);
        p.set_header_len(header_len as u8);
        p.set_flags(self.flags & TcpFlags::ALL);
        p.set_window_len(self.window);
        p.set_urgent_at(self.urgent);
        self.options.emit(p.options_mut());
        p.fill_checksum(src, dst);
        total
    }
}

impl fmt::Display for TcpRepr<'_> {
    /// A one-line tcpdump-like summary, e.g.
    /// `1234 > 80 [S.] seq 1 ack 2 win 65535 len 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} > {} [{}] seq {} ack {} win {} len {}",
            self.src_port,
            self.dst_port,
            self.flags,
            self.seq,
            self.ack,
            self.window,
            self.payload.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use core::net::Ipv4Addr;

    fn addrs() -> (IpAddr, IpAddr) {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    }

    #[test]
    fn flags() {
        let f = TcpFlags::SYN | TcpFlags::ACK;
        assert!(f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::FIN));
        assert_eq!(f.to_string(), "S.");
        assert_eq!(
            (TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK).to_string(),
            "FP."
        );
        assert_eq!(TcpFlags::default().to_string(), "none");
        let mut g = TcpFlags::empty();
        g |= TcpFlags::RST;
        assert_eq!(g, TcpFlags::RST);
        g.remove(TcpFlags::RST);
        assert!(g.is_empty());
    }

    #[test]
    fn syn_options_layout_like_linux() {
        let opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((1, 0)),
            ..TcpOptions::default()
        };
        let mut buf = [0u8; 40];
        let n = opts.emit(&mut buf);
        assert_eq!(n, 20);
        assert_eq!(
            &buf[..20],
            &[2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
        );
        assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), opts);
    }

    #[test]
    fn sack_blocks_limited_by_space() {
        let mut opts = TcpOptions {
            timestamps: Some((5, 6)),
            ..TcpOptions::default()
        };
        let blocks = [
            SackBlock { left: 1, right: 2 },
            SackBlock { left: 3, right: 4 },
            SackBlock { left: 5, right: 6 },
            SackBlock { left: 7, right: 8 },
        ];
        opts.set_sack_blocks(&blocks);
        assert_eq!(opts.sack_emit_count(), 3);
        assert_eq!(opts.encoded_len(), 12 + 4 + 24);
        let mut buf = [0u8; 40];
        let n = opts.emit(&mut buf);
        let parsed = TcpOptions::parse(&buf[..n]).unwrap();
        assert_eq!(parsed.sack_blocks(), &blocks[..3]);
        opts.timestamps = None;
        assert_eq!(opts.sack_emit_count(), 4);
        assert_eq!(opts.encoded_len(), 36);
    }

    #[test]
    fn option_parse_rules() {
        // Wrong-length MSS is skipped, WS clamped, unknown kind skipped.
        let bytes = [2, 3, 9, 3, 3, 20, 99, 4, 1, 2, 1, 0, 2, 4, 1, 1];
        let o = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(o.mss, None);
        assert_eq!(o.window_scale, Some(14));
        // EOL stops before the trailing MSS.
        assert_eq!(
            TcpOptions::parse(&[0, 2, 4, 1, 1]).unwrap(),
            TcpOptions::default()
        );
        assert_eq!(TcpOptions::parse(&[2, 1, 0, 0]), Err(WireError::Malformed));
        assert_eq!(TcpOptions::parse(&[2, 6, 0, 0]), Err(WireError::Malformed));
        assert_eq!(TcpOptions::parse(&[1, 2]), Err(WireError::Malformed));
        // SACK with a bad length is ignored.
        let o = TcpOptions::parse(&[5, 6, 0, 0, 0, 1, 1, 1]).unwrap();
        assert_eq!(o.sack_count, 0);
    }

    #[test]
    fn segment_roundtrip_and_checksum() {
        let (src, dst) = addrs();
        let repr = TcpRepr {
            src_port: 1234,
            dst_port: 80,
            seq: 0xdead_beef,
            ack: 7,
            flags: TcpFlags::PSH | TcpFlags::ACK,
            window: 4096,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some((100, 200)),
                ..TcpOptions::default()
            },
            payload: b"hello",
        };
        let mut buf = [0u8; 64];
        let n = repr.emit(&mut buf, &src, &dst);
        assert_eq!(n, 20 + 12 + 5);
        let parsed = TcpRepr::parse(&buf[..n], &src, &dst, true).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(
            parsed.to_string(),
            "1234 > 80 [P.] seq 3735928559 ack 7 win 4096 len 5"
        );
        let mut bad = buf;
        bad[n - 1] ^= 0x40;
        assert_eq!(
            TcpRepr::parse(&bad[..n], &src, &dst, true),
            Err(WireError::BadChecksum)
        );
        assert!(TcpRepr::parse(&bad[..n], &src, &dst, false).is_ok());

        // In-place variant gives identical bytes.
        let mut buf2 = [0u8; 64];
        buf2[32..37].copy_from_slice(b"hello");
        let n2 = repr.emit_header_in_place(&mut buf2, 5, &src, &dst);
        assert_eq!(n2, n);
        assert_eq!(buf2[..n], buf[..n]);
    }

    #[test]
    fn parse_errors() {
        let (src, dst) = addrs();
        assert_eq!(
            TcpRepr::parse(&[0; 19], &src, &dst, false),
            Err(WireError::Truncated)
        );
        let mut hdr = [0u8; 20];
        hdr[0..2].copy_from_slice(&1u16.to_be_bytes());
        hdr[2..4].copy_from_slice(&2u16.to_be_bytes());
        hdr[12] = 0x40;
        assert_eq!(
            TcpRepr::parse(&hdr, &src, &dst, false),
            Err(WireError::Malformed)
        );
        hdr[12] = 0x60;
        assert_eq!(
            TcpRepr::parse(&hdr, &src, &dst, false),
            Err(WireError::Malformed)
        );
        hdr[12] = 0x50;
        assert!(TcpRepr::parse(&hdr, &src, &dst, false).is_ok());
        hdr[0] = 0;
        hdr[1] = 0;
        assert_eq!(
            TcpRepr::parse(&hdr, &src, &dst, false),
            Err(WireError::Malformed)
        );
    }
}
