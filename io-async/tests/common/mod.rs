//! Helpers shared by the integration tests: stacks joined by a memory link, test data.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use sanstcp::{Stack, StackConfig};
use sanstcp_async::{Driver, MemoryDevice, MemoryLink, Net};

/// The client's address.
pub const CLIENT: &str = "10.0.0.1";
/// The server's address.
pub const SERVER: &str = "10.0.0.2";

/// A stack configuration for `ip` (buffers 256 KiB, the default).
pub fn config(ip: &str, seed: u64) -> StackConfig {
    StackConfig::new(vec![ip.parse().unwrap()], [seed as u8; 16], seed)
}

/// Client and server stacks on the two ends of a memory link.
pub fn pair_with(
    client: StackConfig,
    server: StackConfig,
    link: MemoryLink,
) -> ((Net, Driver<MemoryDevice>), (Net, Driver<MemoryDevice>)) {
    let (da, db) = link.build();
    (
        Net::new(Stack::new(client).unwrap(), da),
        Net::new(Stack::new(server).unwrap(), db),
    )
}

/// Client and server stacks with the default configuration.
pub fn pair() -> ((Net, Driver<MemoryDevice>), (Net, Driver<MemoryDevice>)) {
    pair_with(config(CLIENT, 1), config(SERVER, 2), MemoryLink::default())
}

/// The server's address at `port`.
pub fn server_addr(port: u16) -> SocketAddr {
    SocketAddr::new(SERVER.parse().unwrap(), port)
}

/// `len` bytes of a pattern that differs per `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Polls `f` every few milliseconds until it holds, or panics after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        async_io::Timer::after(Duration::from_millis(5)).await;
    }
}
