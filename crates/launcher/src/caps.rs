//! Capability handling with raw `capget`/`capset`/`prctl`: empty the ambient
//! and bounding sets and the permitted/effective/inheritable sets before the
//! command runs, and give the `nft` helper exactly CAP_NET_ADMIN across exec.

use nix::errno::Errno;

use crate::error::{Step, StepResult};

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets as two 32-bit words.
const CAP_VERSION_3: u32 = 0x2008_0522;
pub const CAP_NET_ADMIN: u32 = 12;
const CAP_SETPCAP: u32 = 8;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The three 64-bit capability sets of this process.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

pub fn get() -> Result<CapSets, Errno> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two CapData words for version 3.
    if unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    } < 0
    {
        return Err(Errno::last());
    }
    let join = |lo: u32, hi: u32| (lo as u64) | ((hi as u64) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

pub fn set(sets: CapSets) -> Result<(), Errno> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let split = |v: u64| (v as u32, (v >> 32) as u32);
    let (e0, e1) = split(sets.effective);
    let (p0, p1) = split(sets.permitted);
    let (i0, i1) = split(sets.inheritable);
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: capset reads the header and two CapData words.
    if unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Highest capability number the kernel knows: probe the bounding set rather
/// than read /proc/sys/kernel/cap_last_cap, which may not be mounted by now.
pub fn last_cap() -> u32 {
    let mut last = 0;
    for cap in 0..64u32 {
        // SAFETY: PR_CAPBSET_READ only queries.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } < 0 {
            break;
        }
        last = cap;
    }
    last
}

/// Empty the ambient set (ignored on kernels older than 4.3, which have none).
pub fn clear_ambient() -> StepResult<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r < 0 && Errno::last() != Errno::EINVAL {
        return Err(Errno::last()).step("capabilities", "clear ambient set");
    }
    Ok(())
}

/// Drop every capability except `keep` from the bounding set, so no later
/// exec can regain it. Without CAP_SETPCAP the set cannot shrink; then the
/// process holds no capability to regain in the first place and
/// `no_new_privs` (set later) keeps file capabilities from adding any.
pub fn drop_bounding(keep: Option<u32>) -> StepResult<()> {
    let have_setpcap = get()
        .map(|c| c.effective & (1 << CAP_SETPCAP) != 0)
        .unwrap_or(false);
    for cap in 0..=last_cap() {
        if Some(cap) == keep {
            continue;
        }
        // SAFETY: prctl with integer arguments.
        let present = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if present != 1 {
            continue;
        }
        if !have_setpcap {
            let sets = get().step("capabilities", "capget")?;
            if sets.permitted == 0 {
                return Ok(());
            }
            return Err(Errno::EPERM).step("capabilities", "bounding set: CAP_SETPCAP missing");
        }
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } < 0 {
            return Err(Errno::last()).step(
                "capabilities",
                &format!("drop capability {cap} from the bounding set"),
            );
        }
    }
    Ok(())
}

/// Empty the effective, permitted and inheritable sets.
pub fn clear_all() -> StepResult<()> {
    set(CapSets::default()).step("capabilities", "capset to empty")?;
    let now = get().step("capabilities", "capget")?;
    if now != CapSets::default() {
        return Err(Errno::EPERM).step("capabilities", "capabilities still present after capset");
    }
    Ok(())
}

/// Keep only `cap`, in every set including ambient, so it survives `execve`
/// even for a uid that is not root in the namespace.
pub fn keep_only_across_exec(cap: u32, step: &str) -> StepResult<()> {
    drop_bounding(Some(cap))?;
    let bit = 1u64 << cap;
    set(CapSets {
        effective: bit,
        permitted: bit,
        inheritable: bit,
    })
    .step(step, "capset")?;
    // SAFETY: prctl with integer arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            cap as libc::c_ulong,
            0,
            0,
        )
    };
    if r < 0 {
        return Err(Errno::last()).step(step, "raise ambient capability");
    }
    Ok(())
}

pub fn set_no_new_privs() -> StepResult<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
        return Err(Errno::last()).step("no_new_privs", "prctl(PR_SET_NO_NEW_PRIVS)");
    }
    Ok(())
}
