//! Building the run's filesystem view inside its private mount namespace.
//!
//! Scheme (the one bubblewrap uses): `NewRoot` mounts a tmpfs on the host's
//! `/tmp` and `pivot_root`s into it, parking the host tree under
//! [`HOST_DIR`]. Because the tmpfs moved away from `/tmp`, the host's `/tmp`
//! (and any scratch dir in it) stays reachable there. From then on `dest`
//! paths are plain paths in the new root and `source` paths are resolved
//! inside the parked host tree (absolute symlinks included). `FinishRoot`
//! detaches the host tree and makes `/` read-only.
//!
//! Without `NewRoot` (filesystem layer off) the same ops work on absolute
//! paths of the private copy of the host tree (e.g. a fresh `/proc`).

use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, pivot_root};

use crate::error::{Step, StepError, StepResult};

/// Where the new root is first mounted; it always exists on a Linux host.
const BASE: &str = "/tmp";
/// Where the host tree waits (inside the new root) until `FinishRoot`.
pub const HOST_DIR: &str = "/.script-sandbox-host";

// statvfs f_flag bits (kernel ABI; not all libc flavours export them all).
const ST_RDONLY: u64 = 1;
const ST_NOSUID: u64 = 2;
const ST_NODEV: u64 = 4;
const ST_NOEXEC: u64 = 8;
const ST_NOATIME: u64 = 1024;
const ST_NODIRATIME: u64 = 2048;
const ST_RELATIME: u64 = 4096;

#[derive(Debug, Default)]
pub struct Mounts {
    /// `/` has been made recursively private (nothing we mount leaks out).
    private: bool,
    /// Between `NewRoot` and `FinishRoot`.
    building: bool,
    finished: bool,
}

/// What a bind destination must be created as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

fn ms(step: &str, what: &str, r: Result<(), Errno>) -> StepResult<()> {
    r.step(step, what)
}

fn mkdir_p(path: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o755).create(path)
}

/// Create `path` as an empty file or directory (with its parents) unless
/// something is already there.
fn create_dest(path: &Path, kind: Kind) -> std::io::Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    match kind {
        Kind::Dir => mkdir_p(path),
        Kind::File => {
            if let Some(parent) = path.parent() {
                mkdir_p(parent)?;
            }
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map(|_| ())
        }
    }
}

fn absolute(step: &str, path: &str) -> StepResult<PathBuf> {
    if !path.starts_with('/') {
        return Err(StepError::msg(
            step,
            format!("path must be absolute: {path}"),
        ));
    }
    Ok(PathBuf::from(path))
}

/// Resolve `path` as the kernel would if `root` were `/`: absolute symlink
/// targets restart at `root` and `..` never climbs above it. Used for bind
/// sources in the parked host tree, where e.g. `/lib64/ld-linux...` may be
/// an absolute link.
pub fn resolve_in(root: &Path, path: &str) -> Result<PathBuf, Errno> {
    fn push_reversed(stack: &mut Vec<OsString>, p: &Path) {
        let parts: Vec<OsString> = p
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect();
        stack.extend(parts.into_iter().rev());
    }
    let mut pending = Vec::new();
    push_reversed(&mut pending, Path::new(path));
    let mut done = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let candidate = root.join(&done).join(&part);
        let meta = fs::symlink_metadata(&candidate).map_err(io_errno)?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return Err(Errno::ELOOP);
            }
            let target = fs::read_link(&candidate).map_err(io_errno)?;
            if target.is_absolute() {
                done = PathBuf::new();
            }
            push_reversed(&mut pending, &target);
        } else {
            done.push(part);
        }
    }
    Ok(root.join(done))
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Mount flags of the mount holding `path` that a bind remount must repeat:
/// inside a user namespace the kernel refuses (EPERM) to clear a flag the
/// parent namespace set (ro, nosuid, nodev, noexec, atime).
fn locked_flags(path: &Path) -> Result<MsFlags, Errno> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: statvfs fills the zeroed struct we pass.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } < 0 {
        return Err(Errno::last());
    }
    let f = st.f_flag as u64;
    let mut flags = MsFlags::empty();
    for (st_bit, ms_bit) in [
        (ST_RDONLY, MsFlags::MS_RDONLY),
        (ST_NOSUID, MsFlags::MS_NOSUID),
        (ST_NODEV, MsFlags::MS_NODEV),
        (ST_NOEXEC, MsFlags::MS_NOEXEC),
        (ST_NOATIME, MsFlags::MS_NOATIME),
        (ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f & st_bit != 0 {
            flags |= ms_bit;
        }
    }
    // No atime flag means strictatime; a remount without one would default
    // to relatime, which counts as changing a locked flag.
    if f & (ST_NOATIME | ST_RELATIME) == 0 {
        flags |= MsFlags::MS_STRICTATIME;
    }
    Ok(flags)
}

/// Mount points at or below `top`, from this process's mountinfo (paths as
/// seen from our current root), top first.
fn mounts_under(top: &Path) -> Option<Vec<PathBuf>> {
    let text = [
        "/proc/self/mountinfo",
        &format!("{HOST_DIR}/proc/self/mountinfo"),
    ]
    .iter()
    .find_map(|p| fs::read_to_string(p).ok())?;
    let mut out: Vec<PathBuf> = Vec::new();
    for line in text.lines() {
        let Some(field) = line.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(unescape_mountinfo(field));
        if mp.starts_with(top) && !out.contains(&mp) {
            out.push(mp);
        }
    }
    out.sort_by_key(|p| p.components().count());
    Some(out)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> OsString {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    OsString::from(std::ffi::OsStr::from_bytes(&out))
}

impl Mounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Make every mount private once, before the first mount change, so
    /// nothing propagates back to the host.
    fn ensure_private(&mut self) -> StepResult<()> {
        if !self.private {
            let r = mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            );
            ms("mount propagation", "make / recursively private", r)?;
            self.private = true;
        }
        Ok(())
    }

    fn tmpfs_at(&self, step: &str, dest: &Path, flags: MsFlags, opts: &str) -> StepResult<()> {
        let r = mount(Some("tmpfs"), dest, Some("tmpfs"), flags, Some(opts));
        ms(step, &format!("mount tmpfs on {}", dest.display()), r)
    }

    /// Host path of a bind source, valid right now.
    fn host_path(&self, step: &str, source: &str) -> StepResult<PathBuf> {
        let abs = absolute(step, source)?;
        let resolved = if self.building {
            resolve_in(Path::new(HOST_DIR), source)
        } else {
            fs::canonicalize(&abs).map_err(io_errno)
        };
        resolved.map_err(|e| StepError::sys(step, &format!("source {source}"), e))
    }

    pub fn new_root(&mut self) -> StepResult<()> {
        let step = "newRoot";
        if self.building || self.finished {
            return Err(StepError::msg(step, "a new root was already started"));
        }
        self.ensure_private()?;
        self.tmpfs_at(
            step,
            Path::new(BASE),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            "mode=0755",
        )?;
        let parked = format!("{BASE}{HOST_DIR}");
        DirBuilder::new()
            .mode(0o700)
            .create(&parked)
            .step(step, &format!("mkdir {parked}"))?;
        pivot_root(BASE, parked.as_str()).step("pivot_root", "pivot_root into the new root")?;
        chdir("/").step(step, "chdir /")?;
        self.building = true;
        Ok(())
    }

    pub fn bind(&mut self, source: &str, dest: &str, readonly: bool) -> StepResult<()> {
        let step = format!("bind {source}");
        let step = step.as_str();
        self.ensure_private()?;
        let src = self.host_path(step, source)?;
        let kind = match fs::metadata(&src) {
            Ok(m) if m.is_dir() => Kind::Dir,
            Ok(_) => Kind::File,
            Err(e) => return Err(StepError::io(step, &format!("source {source}"), &e)),
        };
        let dst = absolute(step, dest)?;
        create_dest(&dst, kind).step(step, &format!("create {dest}"))?;
        // The mount point as the kernel will list it (symlinks resolved).
        let dst = fs::canonicalize(&dst).step(step, &format!("resolve {dest}"))?;
        let r = mount(
            Some(&src),
            &dst,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        );
        ms(
            step,
            &format!("bind {} on {}", src.display(), dst.display()),
            r,
        )?;

        let extra = if readonly {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        self.remount_bind(step, &dst, extra)?;
        if readonly {
            // A recursive bind carries submounts (e.g. /etc/resolv.conf in a
            // container); each one needs its own read-only remount.
            // Without mountinfo a writable submount could go unnoticed: fail.
            let subs = mounts_under(&dst).ok_or_else(|| {
                StepError::msg(
                    step,
                    "cannot read mountinfo to find submounts to make read-only",
                )
            })?;
            for sub in subs {
                if sub != dst {
                    self.remount_bind(step, &sub, MsFlags::MS_RDONLY)?;
                }
            }
        }
        Ok(())
    }

    /// nosuid,nodev (+`extra`) on the bind mount at `path`, keeping the
    /// flags the kernel locks.
    fn remount_bind(&self, step: &str, path: &Path, extra: MsFlags) -> StepResult<()> {
        let locked = locked_flags(path).step(step, &format!("statvfs {}", path.display()))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | locked
            | extra;
        let r = mount(None::<&str>, path, None::<&str>, flags, None::<&str>);
        ms(step, &format!("remount {}", path.display()), r)
    }

    pub fn tmpfs(&mut self, dest: &str, size_bytes: Option<u64>) -> StepResult<()> {
        let step = format!("tmpfs {dest}");
        self.ensure_private()?;
        let dst = absolute(&step, dest)?;
        mkdir_p(&dst).step(&step, &format!("mkdir {dest}"))?;
        let opts = match size_bytes {
            Some(n) => format!("mode=1777,size={n}"),
            None => "mode=1777".to_string(),
        };
        self.tmpfs_at(&step, &dst, MsFlags::MS_NOSUID | MsFlags::MS_NODEV, &opts)
    }

    pub fn proc(&mut self, dest: &str) -> StepResult<()> {
        let step = format!("proc {dest}");
        self.ensure_private()?;
        let dst = absolute(&step, dest)?;
        mkdir_p(&dst).step(&step, &format!("mkdir {dest}"))?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let r = mount(Some("proc"), &dst, Some("proc"), flags, None::<&str>);
        ms(&step, &format!("mount proc on {dest}"), r)
    }

    pub fn dev(&mut self, dest: &str) -> StepResult<()> {
        let step = format!("dev {dest}");
        let step = step.as_str();
        self.ensure_private()?;
        let dst = absolute(step, dest)?;
        // Open the host nodes first: without a new root, the tmpfs below may
        // cover the very /dev they come from.
        const NODES: [(&str, bool); 6] = [
            ("null", true),
            ("zero", true),
            ("full", false),
            ("random", true),
            ("urandom", true),
            ("tty", false),
        ];
        let mut sources: Vec<(&str, PathBuf, OwnedFd)> = Vec::new();
        for (name, required) in NODES {
            let host = format!("/dev/{name}");
            let path = match self.host_path(step, &host) {
                Ok(p) => p,
                Err(_) if !required => continue,
                Err(e) => return Err(e),
            };
            match open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()) {
                Ok(fd) => sources.push((name, path, fd)),
                Err(_) if !required => {}
                Err(e) => return Err(e).step(step, &format!("open {host}")),
            }
        }
        mkdir_p(&dst).step(step, &format!("mkdir {dest}"))?;
        self.tmpfs_at(
            step,
            &dst,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            "mode=0755",
        )?;
        for (name, path, fd) in &sources {
            let node = dst.join(name);
            create_dest(&node, Kind::File).step(step, &format!("create {}", node.display()))?;
            // In a new root the parked host path is never covered; otherwise
            // go through the fd opened before the tmpfs went on.
            let src = if self.building {
                path.clone()
            } else {
                PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            };
            let r = mount(
                Some(&src),
                &node,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            );
            ms(step, &format!("bind /dev/{name}"), r)?;
        }
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ] {
            std::os::unix::fs::symlink(target, dst.join(link))
                .step(step, &format!("symlink {link}"))?;
        }
        let pts = dst.join("pts");
        mkdir_p(&pts).step(step, "mkdir pts")?;
        // A private devpts is a convenience (ptys for `script` and friends),
        // not a security layer: without it there are simply no ptys.
        let _ = mount(
            Some("devpts"),
            &pts,
            Some("devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=620"),
        );
        let shm = dst.join("shm");
        mkdir_p(&shm).step(step, "mkdir shm")?;
        self.tmpfs_at(
            step,
            &shm,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            "mode=1777",
        )
    }

    pub fn finish_root(&mut self) -> StepResult<()> {
        let step = "finishRoot";
        if !self.building {
            return Err(StepError::msg(step, "finishRoot without newRoot"));
        }
        umount2(HOST_DIR, MntFlags::MNT_DETACH).step(step, "detach the host tree")?;
        fs::remove_dir(HOST_DIR).step(step, &format!("rmdir {HOST_DIR}"))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV;
        let r = mount(None::<&str>, "/", None::<&str>, flags, None::<&str>);
        ms(step, "remount / read-only", r)?;
        chdir("/").step(step, "chdir /")?;
        self.building = false;
        self.finished = true;
        Ok(())
    }

    /// A started but unfinished new root would leave the host tree reachable:
    /// refuse to run the command then.
    pub fn check_complete(&self) -> StepResult<()> {
        if self.building {
            return Err(StepError::msg(
                "finishRoot",
                "newRoot was never finished; refusing to expose the host tree",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_in_keeps_absolute_links_inside_the_root() {
        let root = std::env::temp_dir().join(format!("ss-resolve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::write(root.join("usr/lib/ld.so"), b"x").unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/ld.so", root.join("usr/lib/abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("usr/lib/up")).unwrap();
        assert_eq!(
            resolve_in(&root, "/lib/ld.so").unwrap(),
            root.join("usr/lib/ld.so")
        );
        assert_eq!(
            resolve_in(&root, "/lib/abs").unwrap(),
            root.join("usr/lib/ld.so")
        );
        assert_eq!(
            resolve_in(&root, "/usr/lib/up/usr").unwrap(),
            root.join("usr")
        );
        assert_eq!(resolve_in(&root, "/../../usr").unwrap(), root.join("usr"));
        assert_eq!(resolve_in(&root, "/missing"), Err(Errno::ENOENT));
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve_in(&root, "/loop"), Err(Errno::ELOOP));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(
            unescape_mountinfo("/a\\040b\\134c"),
            OsString::from("/a b\\c")
        );
        assert_eq!(unescape_mountinfo("/plain"), OsString::from("/plain"));
    }
}
