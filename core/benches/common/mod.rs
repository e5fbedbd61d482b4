//! Shared by the bench targets: the smoltcp peer node and the payload every transfer checks.

pub mod smoltcp_node;

use sanstcp::sim::Rng;

/// Length of the repeating payload block: odd and not a multiple of any segment size, so a
/// segment delivered at the wrong offset (duplicated, skipped, swapped) compares unequal.
const BLOCK: usize = (1 << 20) + 4099;

/// The payload of every transfer: a random block repeated; byte `i` of a stream that starts at
/// `offset` is `block[(offset + i) % BLOCK]`.
pub struct Pattern {
    block: Vec<u8>,
}

impl Pattern {
    /// The block drawn from `seed`.
    pub fn new(seed: u64) -> Pattern {
        let mut block = vec![0u8; BLOCK];
        Rng::new(seed).fill_bytes(&mut block);
        Pattern { block }
    }

    /// The contiguous bytes from stream position `pos` to the end of the block.
    pub fn chunk(&self, pos: u64) -> &[u8] {
        &self.block[(pos % BLOCK as u64) as usize..]
    }

    /// The contiguous bytes from `pos`, at most `max` of them.
    pub fn chunk_max(&self, pos: u64, max: u64) -> &[u8] {
        let c = self.chunk(pos);
        &c[..c.len().min(usize::try_from(max).unwrap_or(usize::MAX))]
    }

    /// Whether `data` equals the stream from position `pos` on.
    pub fn check(&self, mut pos: u64, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            let expect = self.chunk(pos);
            let n = expect.len().min(data.len());
            if expect[..n] != data[..n] {
                return false;
            }
            data = &data[n..];
            pos += n as u64;
        }
        true
    }
}

/// Jain's fairness index of `xs`: 1 when all are equal, 1/n when one takes everything.
pub fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        return 0.0;
    }
    sum * sum / (xs.len() as f64 * squares)
}

/// `bytes` over `secs` in Mbit/s.
pub fn mbps(bytes: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 * 8.0 / secs / 1e6
}
