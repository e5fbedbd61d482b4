//! Checking the options, and opening (and with `--create`, creating and configuring) the
//! device.

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use sanstcp::wire::EthernetAddress;
use sanstcp_mio::device::{TapDevice, TapOptions, MAX_NAME_LEN};

use super::{Cidr, TapArgs};

/// What the options resolve to.
#[derive(Debug)]
pub struct Plan {
    /// The stack's MAC address.
    pub mac: EthernetAddress,
    /// The host side's addresses, for `--create`.
    pub host: Vec<Cidr>,
}

impl Plan {
    /// Checks the options against each other and fills in the defaults.
    pub fn new(args: &TapArgs) -> Result<Plan> {
        if args.ifname.is_empty() || args.ifname.len() > MAX_NAME_LEN {
            bail!("--ifname must have 1 to {MAX_NAME_LEN} characters");
        }
        if let Some(c) = args.addr {
            if !c.addr.is_ipv4() {
                bail!("--addr takes an IPv4 address (use --addr6 for IPv6)");
            }
            if !is_host_address(c.addr) {
                bail!("--addr {c}: not a unicast host address");
            }
        }
        if let Some(c) = args.addr6 {
            if !c.addr.is_ipv6() {
                bail!("--addr6 takes an IPv6 address (use --addr for IPv4)");
            }
            if !is_host_address(c.addr) {
                bail!("--addr6 {c}: not a unicast host address");
            }
        }
        let mut seen = [false; 2];
        for g in &args.gateway {
            let (own, slot) = if g.is_ipv4() {
                (args.addr, 0)
            } else {
                (args.addr6, 1)
            };
            if std::mem::replace(&mut seen[slot], true) {
                bail!("--gateway {g}: one gateway per address family");
            }
            let Some(own) = own else {
                bail!("--gateway {g}: the stack has no address of that family");
            };
            let link_local = matches!(g, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80);
            if !own.contains(*g) && !link_local {
                tracing::warn!("--gateway {g} is outside {own}: it is resolved on the link anyway");
            }
        }
        let min_mtu = if args.addr6.is_some() { 1280 } else { 576 };
        if !(min_mtu..=65535).contains(&args.mtu) {
            bail!("--mtu must be between {min_mtu} and 65535");
        }
        let mac = match args.mac {
            Some(m) => m,
            None => {
                let mut b = [0u8; 6];
                random_bytes(&mut b)?;
                // Locally administered (bit 1), unicast (bit 0 clear).
                b[0] = (b[0] & 0xfc) | 0x02;
                EthernetAddress(b)
            }
        };
        let mut host = Vec::new();
        if args.create {
            for (own, given) in [(args.addr, args.host_addr), (args.addr6, args.host_addr6)] {
                let Some(own) = own else {
                    if let Some(g) = given {
                        bail!("--host-addr {g} given without a stack address of that family");
                    }
                    continue;
                };
                let h = match given {
                    Some(h) => h,
                    None => default_host(own, &args.gateway)?,
                };
                if h.addr.is_ipv4() != own.addr.is_ipv4() {
                    bail!("host address {h} is not of the family of {own}");
                }
                if h.addr == own.addr {
                    bail!("the host side and the stack cannot both have {}", own.addr);
                }
                host.push(h);
            }
        }
        Ok(Plan { mac, host })
    }
}

/// The host side's default address in the stack's prefix: the gateway of that family if it
/// is in the prefix, else the first address after the network address that is not the
/// stack's.
fn default_host(own: Cidr, gateways: &[IpAddr]) -> Result<Cidr> {
    if let Some(g) = gateways
        .iter()
        .find(|g| g.is_ipv4() == own.addr.is_ipv4() && own.contains(**g))
    {
        return Ok(Cidr {
            addr: *g,
            prefix: own.prefix,
        });
    }
    let max = if own.addr.is_ipv4() { 30 } else { 126 };
    if own.prefix > max {
        bail!("{own}: the prefix has no room for a host address; give --host-addr / --host-addr6");
    }
    let pick = |offset: u128| -> IpAddr {
        match own.network() {
            IpAddr::V4(n) => IpAddr::V4((u32::from(n) + offset as u32).into()),
            IpAddr::V6(n) => IpAddr::V6((u128::from(n) + offset).into()),
        }
    };
    let addr = if pick(1) == own.addr {
        pick(2)
    } else {
        pick(1)
    };
    Ok(Cidr {
        addr,
        prefix: own.prefix,
    })
}

fn is_host_address(a: IpAddr) -> bool {
    !a.is_unspecified()
        && !a.is_multicast()
        && !a.is_loopback()
        && !matches!(a, IpAddr::V4(v) if v.is_broadcast())
}

/// `02:00:00:00:00:01`.
pub fn mac_string(mac: EthernetAddress) -> String {
    mac.0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Fills `buf` from the kernel's random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .context("cannot read /dev/urandom")
}

fn sys_path(ifname: &str, attr: &str) -> PathBuf {
    PathBuf::from("/sys/class/net").join(ifname).join(attr)
}

/// Opens the device: attaches to an existing one, or with `--create` creates it and
/// configures the host side.
pub fn open_device(args: &TapArgs, plan: &Plan) -> Result<TapDevice> {
    let name = &args.ifname;
    let exists = sys_path(name, "").exists();
    let options = TapOptions {
        vnet_hdr: args.offload,
    };
    if args.create {
        if exists {
            bail!(
                "{name} already exists: leave out --create to attach to it, or remove it first \
                 (ip link del {name})"
            );
        }
        let device = TapDevice::open(name, options)
            .with_context(|| format!("cannot create the TAP device {name}"))?;
        let mtu = args.mtu.to_string();
        ip(&["link", "set", "dev", name, "mtu", &mtu, "up"])?;
        for h in &plan.host {
            let cidr = h.to_string();
            if h.addr.is_ipv4() {
                ip(&["addr", "add", &cidr, "dev", name])?;
            } else {
                ip(&["-6", "addr", "add", &cidr, "dev", name, "nodad"])?;
            }
            tracing::info!("{name}: host side has {cidr}");
        }
        wait_operational(name);
        return Ok(device);
    }
    if !exists {
        bail!(
            "there is no device {name}: create it first (ip tuntap add dev {name} mode tap; \
             ip link set {name} up; ip addr add ADDR/PREFIX dev {name}; see io-mio/README.md), \
             or pass --create"
        );
    }
    let device = TapDevice::open(name, options)
        .with_context(|| format!("cannot attach to the TAP device {name}"))?;
    if let Ok(flags) = std::fs::read_to_string(sys_path(name, "flags")) {
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(1);
        if flags & 1 == 0 {
            tracing::warn!("{name} is down: bring it up with `ip link set {name} up`");
        } else {
            wait_operational(name);
        }
    }
    if let Ok(mtu) = std::fs::read_to_string(sys_path(name, "mtu")) {
        if let Ok(mtu) = mtu.trim().parse::<usize>() {
            if mtu != args.mtu {
                tracing::warn!("{name} has MTU {mtu} but the stack uses --mtu {}", args.mtu);
            }
        }
    }
    Ok(device)
}

/// Waits (up to 2 s) until the host has taken the link into operation after the device got
/// its carrier from our open: Linux does that asynchronously (the link watch), and until
/// then it drops what it sends on the device, the answers to our first ARP request or
/// Neighbor Solicitation included, which would cost a one-second resolution retry.
fn wait_operational(name: &str) {
    let start = std::time::Instant::now();
    let deadline = start + std::time::Duration::from_secs(2);
    loop {
        let state = std::fs::read_to_string(sys_path(name, "operstate")).unwrap_or_default();
        if !matches!(state.trim(), "down" | "lowerlayerdown" | "dormant") {
            tracing::debug!(
                "{name}: operational ({}) after {:?}",
                state.trim(),
                start.elapsed()
            );
            return;
        }
        if std::time::Instant::now() >= deadline {
            tracing::warn!(
                "{name}: the host has not brought the link up (operstate {})",
                state.trim()
            );
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Runs `ip ARGS`, failing with its error output.
fn ip(args: &[&str]) -> Result<()> {
    tracing::debug!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (install iproute2)")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn host_defaults() {
        assert_eq!(
            default_host(cidr("10.0.0.2/24"), &[]).unwrap(),
            cidr("10.0.0.1/24")
        );
        assert_eq!(
            default_host(cidr("10.0.0.1/24"), &[]).unwrap(),
            cidr("10.0.0.2/24")
        );
        let gw: IpAddr = "10.0.0.254".parse().unwrap();
        assert_eq!(
            default_host(cidr("10.0.0.1/24"), &[gw]).unwrap(),
            cidr("10.0.0.254/24")
        );
        assert_eq!(
            default_host(cidr("fd00::2/64"), &[gw]).unwrap(),
            cidr("fd00::1/64")
        );
        assert!(default_host(cidr("10.0.0.1/31"), &[]).is_err());
    }
}
