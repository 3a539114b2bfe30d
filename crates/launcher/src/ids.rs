//! Switching the final child to its run-time uid/gid and checking the switch
//! really happened (a silently failed setuid is the classic privilege bug).

use nix::errno::Errno;
use nix::unistd::{getresgid, getresuid, setgroups, setresgid, setresuid, Gid, Uid};
use script_sandbox_spec::{IdMap, Ids};

use crate::error::{Step, StepResult};

/// Clear supplementary groups, then set real/effective/saved gid and uid.
/// `setgroups_denied` is true when the user namespace was created with
/// setgroups "deny": the groups cannot be changed (nor used to gain access,
/// unmapped groups only ever restrict), so EPERM is expected there.
pub fn switch_to(ids: &Ids, setgroups_denied: bool) -> StepResult<()> {
    match setgroups(&[]) {
        Ok(()) => {}
        Err(Errno::EPERM) if setgroups_denied => {}
        Err(e) => return Err(e).step("setgroups", "clear supplementary groups"),
    }
    let gid = Gid::from_raw(ids.gid);
    let uid = Uid::from_raw(ids.uid);
    setresgid(gid, gid, gid).step("setresgid", &format!("setresgid({})", ids.gid))?;
    setresuid(uid, uid, uid).step("setresuid", &format!("setresuid({})", ids.uid))?;
    let g = getresgid().step("setresgid", "getresgid")?;
    let u = getresuid().step("setresuid", "getresuid")?;
    if [g.real, g.effective, g.saved] != [gid; 3] {
        return Err(Errno::EPERM).step(
            "setresgid",
            &format!("gid is not {} after setresgid", ids.gid),
        );
    }
    if [u.real, u.effective, u.saved] != [uid; 3] {
        return Err(Errno::EPERM).step(
            "setresuid",
            &format!("uid is not {} after setresuid", ids.uid),
        );
    }
    Ok(())
}

/// Become the mapped identity inside the new user namespace. Right after
/// `clone` the init still carries the launcher's host ids; when those are not
/// mapped (a root launcher mapping an unprivileged id), every file it
/// creates fails with EOVERFLOW. Moving to the mapped ids keeps the
/// namespace capabilities (the old ids were not the namespace's root).
pub fn enter_mapped(map: &IdMap) -> StepResult<()> {
    let gid = Gid::from_raw(map.inside_gid);
    let uid = Uid::from_raw(map.inside_uid);
    setresgid(gid, gid, gid).step(
        "idmap",
        &format!("setresgid({}) in the user namespace", map.inside_gid),
    )?;
    setresuid(uid, uid, uid).step(
        "idmap",
        &format!("setresuid({}) in the user namespace", map.inside_uid),
    )?;
    Ok(())
}
