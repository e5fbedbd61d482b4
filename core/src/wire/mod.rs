//! Wire formats: zero-copy packet views and small high-level representations.
//!
//! Every protocol module follows the same pattern:
//!
//! * a `XxxPacket<T: AsRef<[u8]>>` view over a byte buffer, built with
//!   `new_checked` (which validates every length the accessors rely on) and
//!   offering field getters, plus setters when `T: AsMut<[u8]>`;
//! * a small `XxxRepr` value type with `parse` (bytes to value, validating
//!   everything, never panicking on any input) and `emit` (value to bytes).
//!
//! Parsers only ever read within bounds they have checked first; arbitrary
//! input yields a [`WireError`], never a panic.

/// Wrapping and unwrapping, the same for every zero-copy view: `new_unchecked`,
/// `new_checked` (which runs the view's own `check_len`) and `into_inner`.
macro_rules! view_wrapping {
    ($view:ident) => {
        impl<T: AsRef<[u8]>> $view<T> {
            /// Wraps a buffer without checking it. Accessors on a short buffer return zeros /
            /// empty slices instead of panicking.
            pub const fn new_unchecked(buffer: T) -> $view<T> {
                $view { buffer }
            }

            /// Wraps a buffer after checking its length (see `check_len`).
            pub fn new_checked(buffer: T) -> Result<$view<T>> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            /// Consumes the view and returns the buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}
pub(crate) use view_wrapping;

/// The header fields ICMPv4 (RFC 792) and ICMPv6 (RFC 4443 §2.1, §4) share at the same
/// offsets: type, code, checksum, and the echo identifier and sequence number.
macro_rules! icmp_header_fields {
    ($view:ident) => {
        impl<T: AsRef<[u8]>> $view<T> {
            /// Message type.
            pub fn msg_type(&self) -> u8 {
                super::field::u8_at(self.buffer.as_ref(), 0)
            }
            /// Message code.
            pub fn msg_code(&self) -> u8 {
                super::field::u8_at(self.buffer.as_ref(), 1)
            }
            /// Checksum field.
            pub fn checksum(&self) -> u16 {
                super::field::u16_at(self.buffer.as_ref(), 2)
            }
            /// Echo identifier (echo messages).
            pub fn echo_ident(&self) -> u16 {
                super::field::u16_at(self.buffer.as_ref(), 4)
            }
            /// Echo sequence number (echo messages).
            pub fn echo_seq_no(&self) -> u16 {
                super::field::u16_at(self.buffer.as_ref(), 6)
            }
        }
        impl<T: AsRef<[u8]> + AsMut<[u8]>> $view<T> {
            /// Sets the message type.
            pub fn set_msg_type(&mut self, value: u8) {
                super::field::set_u8(self.buffer.as_mut(), 0, value);
            }
            /// Sets the message code.
            pub fn set_msg_code(&mut self, value: u8) {
                super::field::set_u8(self.buffer.as_mut(), 1, value);
            }
            /// Sets the checksum field.
            pub fn set_checksum(&mut self, value: u16) {
                super::field::set_u16(self.buffer.as_mut(), 2, value);
            }
            /// Sets the echo identifier.
            pub fn set_echo_ident(&mut self, value: u16) {
                super::field::set_u16(self.buffer.as_mut(), 4, value);
            }
            /// Sets the echo sequence number.
            pub fn set_echo_seq_no(&mut self, value: u16) {
                super::field::set_u16(self.buffer.as_mut(), 6, value);
            }
        }
    };
}
pub(crate) use icmp_header_fields;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod tcp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6Packet, Icmpv6Repr};
pub use ip::IpRepr;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use ndp::{multicast_ethernet, solicited_node_multicast, NdpRepr};
pub use tcp::{SackBlock, TcpFlags, TcpOptions, TcpPacket, TcpRepr};

use core::fmt;

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer is shorter than a header or a length field requires.
    Truncated,
    /// A field holds a value that the protocol does not allow.
    Malformed,
    /// A checksum did not verify.
    BadChecksum,
    /// The IP version nibble is neither 4 nor 6 (or not the one expected).
    BadVersion,
    /// The packet is an IP fragment; reassembly is not supported.
    Fragmented,
    /// The packet is well formed but uses a feature this stack does not
    /// implement (e.g. a non-Ethernet ARP, an IPv6 routing header in use).
    Unsupported,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            WireError::Truncated => "truncated packet",
            WireError::Malformed => "malformed packet",
            WireError::BadChecksum => "bad checksum",
            WireError::BadVersion => "bad IP version",
            WireError::Fragmented => "fragmented packet (reassembly unsupported)",
            WireError::Unsupported => "unsupported packet feature",
        };
        f.write_str(msg)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WireError {}

/// Result type of all parsers in this module.
pub type Result<T> = core::result::Result<T, WireError>;

/// IP protocol numbers (IPv4 "Protocol" / IPv6 "Next Header"), from the
/// IANA "Assigned Internet Protocol Numbers" registry.
pub mod ip_protocol {
    /// IPv6 Hop-by-Hop Options header (RFC 8200 §4.3).
    pub const HOP_BY_HOP: u8 = 0;
    /// Internet Control Message Protocol (RFC 792).
    pub const ICMP: u8 = 1;
    /// Transmission Control Protocol (RFC 9293).
    pub const TCP: u8 = 6;
    /// User Datagram Protocol (RFC 768).
    pub const UDP: u8 = 17;
    /// IPv6 Routing header (RFC 8200 §4.4).
    pub const IPV6_ROUTING: u8 = 43;
    /// IPv6 Fragment header (RFC 8200 §4.5).
    pub const IPV6_FRAGMENT: u8 = 44;
    /// ICMP for IPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
    /// IPv6 "No Next Header" (RFC 8200 §4.7).
    pub const IPV6_NO_NEXT_HEADER: u8 = 59;
    /// IPv6 Destination Options header (RFC 8200 §4.6).
    pub const IPV6_DEST_OPTIONS: u8 = 60;
}

/// Big-endian field helpers shared by the views.
///
/// They take a buffer and an offset and return `None`/do nothing when the
/// field does not fit, so that they can never panic.
pub(crate) mod field {
    /// Reads a byte at `at`, or 0 if out of bounds.
    #[inline]
    pub(crate) fn u8_at(buf: &[u8], at: usize) -> u8 {
        buf.get(at).copied().unwrap_or(0)
    }

    /// Reads a big-endian `u16` at `at`, or 0 if out of bounds.
    #[inline]
    pub(crate) fn u16_at(buf: &[u8], at: usize) -> u16 {
        match buf.get(at..at.saturating_add(2)) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    /// Reads a big-endian `u32` at `at`, or 0 if out of bounds.
    #[inline]
    pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
        match buf.get(at..at.saturating_add(4)) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    /// Reads `N` bytes at `at`, or zeros if out of bounds.
    #[inline]
    pub(crate) fn array_at<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = buf.get(at..at.saturating_add(N)) {
            out.copy_from_slice(src);
        }
        out
    }

    /// Writes a byte at `at` (ignored if out of bounds).
    #[inline]
    pub(crate) fn set_u8(buf: &mut [u8], at: usize, value: u8) {
        if let Some(b) = buf.get_mut(at) {
            *b = value;
        }
    }

    /// Writes bytes at `at` (ignored if they do not fit).
    #[inline]
    pub(crate) fn set_bytes(buf: &mut [u8], at: usize, value: &[u8]) {
        if let Some(dst) = buf.get_mut(at..at.saturating_add(value.len())) {
            dst.copy_from_slice(value);
        }
    }

    /// Writes a big-endian `u16` at `at` (ignored if it does not fit).
    #[inline]
    pub(crate) fn set_u16(buf: &mut [u8], at: usize, value: u16) {
        set_bytes(buf, at, &value.to_be_bytes());
    }

    /// Writes a big-endian `u32` at `at` (ignored if it does not fit).
    #[inline]
    pub(crate) fn set_u32(buf: &mut [u8], at: usize, value: u32) {
        set_bytes(buf, at, &value.to_be_bytes());
    }
}
