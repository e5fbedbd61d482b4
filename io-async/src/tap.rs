//! Putting a stack on a TAP device in one call, for examples and small programs.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::IpAddr;

use sanstcp::link::LinkConfig;
use sanstcp::wire::EthernetAddress;
use sanstcp::{Stack, StackConfig};

use crate::{AsyncTap, Driver, Net};

/// Parses `ADDR/PREFIX` (`10.0.0.2/24`, `fd00::2/64`).
pub fn parse_cidr(s: &str) -> io::Result<(IpAddr, u8)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("not ADDR/PREFIX: {s}"));
    let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if prefix > if addr.is_ipv4() { 32 } else { 128 } {
        return Err(bad());
    }
    Ok((addr, prefix))
}

/// 64 unpredictable bits from the standard library's per-process hash keys.
fn random_u64(salt: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(salt);
    h.finish()
}

/// Opens the TAP device `ifname` and puts a new stack with address `cidr` (`ADDR/PREFIX`,
/// the prefix being on-link) on it, with `gateway` as the next hop for other destinations.
/// The secret, seed and MAC address (locally administered) are random; buffers are 1 MiB.
pub fn open(
    ifname: &str,
    cidr: &str,
    gateway: Option<IpAddr>,
) -> io::Result<(Net, Driver<AsyncTap>)> {
    let (addr, prefix) = parse_cidr(cidr)?;
    let mut secret = [0u8; 16];
    secret[..8].copy_from_slice(&random_u64(1).to_le_bytes());
    secret[8..].copy_from_slice(&random_u64(2).to_le_bytes());
    let mut config = StackConfig::new(vec![addr], secret, random_u64(3));
    config.send_buffer = 1 << 20;
    config.recv_buffer = 1 << 20;
    let stack = Stack::new(config)?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&random_u64(4).to_le_bytes()[..6]);
    mac[0] = (mac[0] & 0xfc) | 0x02;
    let mut link = LinkConfig::new(EthernetAddress(mac));
    link.prefixes = vec![(addr, prefix)];
    match gateway {
        Some(IpAddr::V4(g)) => link.gateway_v4 = Some(g),
        Some(IpAddr::V6(g)) => link.gateway_v6 = Some(g),
        None => {}
    }
    Ok(Net::ethernet(stack, link, AsyncTap::open(ifname)?))
}
