//! The per-run scratch directory the supervisor manages: named before the
//! plan is accepted, created only after, removed on every path.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct ScratchDir {
    path: PathBuf,
    created: bool,
}

impl ScratchDir {
    /// Pick a fresh, unpredictable name under the temp dir; create nothing.
    pub fn reserve() -> Self {
        let base = std::env::var_os("TMPDIR")
            .filter(|v| Path::new(v).is_absolute())
            .map(PathBuf::from);
        let base = base.unwrap_or_else(|| PathBuf::from("/tmp"));
        ScratchDir {
            path: base.join(format!("script-sandbox-{}", random_hex())),
            created: false,
        }
    }

    pub fn path(&self) -> &str {
        self.path.to_str().unwrap_or("/tmp/script-sandbox")
    }

    /// Create it (mode 0700), owned by `owner` when the run switches ids.
    pub fn create(&mut self, owner: Option<(u32, u32)>) -> io::Result<()> {
        std::fs::DirBuilder::new().mode(0o700).create(&self.path)?;
        self.created = true;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&self.path, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    /// Remove it and everything the run left in it, even entries the run
    /// made unreadable (mode 000 dirs). Symlinks are removed, never followed.
    pub fn remove(mut self) {
        if self.created {
            remove_tree(&self.path);
            self.created = false;
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.created {
            remove_tree(&self.path);
        }
    }
}

/// Best-effort recursive delete that first makes every directory traversable.
/// The walk goes fd to fd (`openat` with `O_NOFOLLOW`), so a symlink a
/// surviving process swaps in can never redirect a chmod to a host directory.
pub fn remove_tree(path: &Path) {
    if std::fs::remove_dir_all(path).is_ok() {
        return;
    }
    if let Ok(dir) = open_dir_nofollow(libc::AT_FDCWD, path.as_os_str()) {
        open_up(dir);
    }
    let _ = std::fs::remove_dir_all(path);
}

/// Open the directory `name` under `parent` without following a symlink,
/// making it 0700 first (through an `O_PATH` handle, which needs no read
/// permission, so even a mode-000 directory opens).
fn open_dir_nofollow(parent: RawFd, name: &std::ffi::OsStr) -> std::io::Result<OwnedFd> {
    let name =
        std::ffi::CString::new(name.as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let open = |dirfd: RawFd, path: &std::ffi::CStr, flags: libc::c_int| {
        // SAFETY: openat on a valid C string; the result is a fresh fd we own.
        let fd = unsafe {
            libc::openat(
                dirfd,
                path.as_ptr(),
                flags | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            // SAFETY: fresh fd.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    };
    let handle = open(parent, &name, libc::O_PATH)?;
    // chmod through the fd's /proc link: it names exactly the inode we hold.
    let _ = std::fs::set_permissions(
        format!("/proc/self/fd/{}", handle.as_raw_fd()),
        std::fs::Permissions::from_mode(0o700),
    );
    open(handle.as_raw_fd(), c".", libc::O_RDONLY)
}

/// chmod 0700 every directory below this one (already opened that way).
fn open_up(dir: OwnedFd) {
    let Ok(mut listing) = nix::dir::Dir::from_fd(dir) else {
        return;
    };
    let parent = listing.as_raw_fd();
    let names: Vec<std::ffi::OsString> = listing
        .iter()
        .flatten()
        .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
        .filter(|e| !matches!(e.file_type(), Some(t) if t != nix::dir::Type::Directory))
        .map(|e| std::ffi::OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .collect();
    for name in names {
        if let Ok(child) = open_dir_nofollow(parent, &name) {
            open_up(child);
        }
    }
    drop(listing);
}

fn random_hex() -> String {
    let mut bytes = [0u8; 12];
    // SAFETY: getrandom fills the buffer we own.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        // Fall back to time and pid; the mkdir still refuses to reuse a name.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return format!("{:x}{:x}", t, std::process::id());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_runs_create_nothing_and_removal_handles_locked_dirs() {
        let reserved = ScratchDir::reserve();
        let path = reserved.path().to_string();
        drop(reserved);
        assert!(!Path::new(&path).exists());

        let mut dir = ScratchDir::reserve();
        dir.create(None).unwrap();
        let p = PathBuf::from(dir.path());
        std::fs::create_dir_all(p.join("a/b")).unwrap();
        std::fs::write(p.join("a/b/f"), "x").unwrap();
        std::fs::set_permissions(p.join("a"), std::fs::Permissions::from_mode(0o000)).unwrap();
        dir.remove();
        assert!(!p.exists());
    }
}
