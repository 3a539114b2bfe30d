//! The per-run scratch directory the supervisor manages: named before the
//! plan is accepted, created only after, removed on every path.

use std::io;
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
pub fn remove_tree(path: &Path) {
    if std::fs::remove_dir_all(path).is_ok() {
        return;
    }
    open_up(path);
    let _ = std::fs::remove_dir_all(path);
}

fn open_up(dir: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            open_up(&entry.path());
        }
    }
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
