//! A Linux TAP device: `/dev/net/tun` opened non-blocking and attached with the `TUNSETIFF`
//! ioctl as `IFF_TAP | IFF_NO_PI` (optionally `IFF_VNET_HDR`), readable and writable one
//! Ethernet frame per call, and registrable with [`mio`].
//!
//! Opening a device that does not exist creates it (non-persistent: it disappears when the
//! file is closed). Its host side (link up, addresses) is configured with `ip`; see the
//! crate's README.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::offload::VNET_HDR_LEN;

/// The clone device of the Linux TUN/TAP driver.
pub const CLONE_DEVICE: &str = "/dev/net/tun";

/// Longest interface name Linux accepts (`IFNAMSIZ` - 1).
pub const MAX_NAME_LEN: usize = 15;

/// How to open a [`TapDevice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TapOptions {
    /// Prefix every frame with a `virtio_net_hdr` (`IFF_VNET_HDR`) and let the kernel hand
    /// over frames with a partial checksum and TCP segmentation offload super-frames
    /// (`TUNSETOFFLOAD` with `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`). The
    /// [`crate::offload`] module turns those back into plain frames.
    pub vnet_hdr: bool,
}

/// `struct ifreq` as `TUNSETIFF` reads and writes it: the name and the flags, padded to the
/// size of the kernel's union (40 bytes in all on 64-bit targets, 32 on 32-bit ones; the
/// padding here covers both).
#[repr(C)]
struct IfReqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 24],
}

/// An open TAP device. Reads and writes move one Ethernet frame (without FCS) per call,
/// prefixed with a [`VNET_HDR_LEN`]-byte header when opened with [`TapOptions::vnet_hdr`].
#[derive(Debug)]
pub struct TapDevice {
    file: File,
    name: String,
    vnet_hdr: bool,
}

impl TapDevice {
    /// Opens (or creates) the TAP device `name`, non-blocking.
    ///
    /// Errors: `InvalidInput` for an empty or too long name, `NotFound` when
    /// `/dev/net/tun` is missing, `PermissionDenied` without `CAP_NET_ADMIN` (or ownership of
    /// a persistent device), and whatever the ioctls return.
    pub fn open(name: &str, options: TapOptions) -> io::Result<TapDevice> {
        if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['/', '\0', ' ']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?} (1 to {MAX_NAME_LEN} bytes, no '/' or space)"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(CLONE_DEVICE)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open {CLONE_DEVICE}: {e}")))?;

        let mut req = IfReqFlags {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            _pad: [0; 24],
        };
        for (dst, src) in req.name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if options.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        req.flags = flags as libc::c_short;
        // SAFETY: the descriptor is open and owned by `file`; TUNSETIFF reads and writes a
        // `struct ifreq`, and `req` is a properly aligned, initialized `#[repr(C)]` value at
        // least as large as the kernel's `struct ifreq`, alive for the whole call.
        let rc = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                libc::TUNSETIFF,
                &mut req as *mut IfReqFlags,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("TUNSETIFF {name} (IFF_TAP | IFF_NO_PI): {e}"),
            ));
        }
        let len = req
            .name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(libc::IFNAMSIZ);
        let actual: String = req.name[..len].iter().map(|&c| c as u8 as char).collect();

        if options.vnet_hdr {
            let offload = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
            // SAFETY: the descriptor is open; TUNSETOFFLOAD takes its argument by value (an
            // unsigned long of TUN_F_* flags), no memory is passed.
            let rc = unsafe {
                libc::ioctl(
                    file.as_raw_fd(),
                    libc::TUNSETOFFLOAD,
                    libc::c_ulong::from(offload),
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("TUNSETOFFLOAD {actual}: {e}"),
                ));
            }
            let size = VNET_HDR_LEN as libc::c_int;
            // SAFETY: the descriptor is open; TUNSETVNETHDRSZ reads one `int` through the
            // pointer, which points at a live local.
            let rc = unsafe {
                libc::ioctl(
                    file.as_raw_fd(),
                    libc::TUNSETVNETHDRSZ,
                    &size as *const libc::c_int,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("TUNSETVNETHDRSZ {actual}: {e}"),
                ));
            }
        }
        Ok(TapDevice {
            file,
            name: actual,
            vnet_hdr: options.vnet_hdr,
        })
    }

    /// Wraps a descriptor that already moves one Ethernet frame per `read` / `write` and is
    /// non-blocking: a TAP device opened elsewhere (and handed over, say, by a privileged
    /// helper), or one end of a datagram socket pair joining two drivers in a test.
    pub fn from_fd(fd: OwnedFd, name: &str, vnet_hdr: bool) -> TapDevice {
        TapDevice {
            file: File::from(fd),
            name: name.to_string(),
            vnet_hdr,
        }
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether frames carry a `virtio_net_hdr` prefix.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Reads one frame into `buf` (with its `virtio_net_hdr` first when enabled) and returns
    /// its length. `WouldBlock` when no frame is waiting. A frame longer than `buf` is
    /// truncated by the kernel.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one Ethernet frame. With `vnet_hdr`, an all-zero header (no checksum or
    /// segmentation offload requested) is written in front of it in the same call.
    /// `WouldBlock` when the device cannot take it now.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let n = if self.vnet_hdr {
            let hdr = [0u8; VNET_HDR_LEN];
            let n = (&self.file).write_vectored(&[IoSlice::new(&hdr), IoSlice::new(frame)])?;
            n.saturating_sub(VNET_HDR_LEN)
        } else {
            (&self.file).write(frame)?
        };
        if n != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write to {}: {n} of {} bytes", self.name, frame.len()),
            ));
        }
        Ok(())
    }

    /// Writes `buf` as it is in one call: with `vnet_hdr`, a `virtio_net_hdr` followed by the
    /// frame (see [`crate::offload::Coalescer`]); without, the frame alone.
    /// `WouldBlock` when the device cannot take it now.
    pub fn send_raw(&self, buf: &[u8]) -> io::Result<()> {
        let n = (&self.file).write(buf)?;
        if n != buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write to {}: {n} of {} bytes", self.name, buf.len()),
            ));
        }
        Ok(())
    }
}

impl AsRawFd for TapDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl std::os::fd::AsFd for TapDevice {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl mio::event::Source for TapDevice {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_is_at_least_the_kernels_size() {
        assert!(std::mem::size_of::<IfReqFlags>() >= 40);
    }

    #[test]
    fn bad_names_are_refused_before_any_system_call() {
        for name in ["", "a-name-that-is-too-long", "a/b", "a b"] {
            let e = TapDevice::open(name, TapOptions::default()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
    }
}
