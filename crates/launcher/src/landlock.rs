//! Landlock as a second filesystem fence, applied by the final child to
//! itself: the listed paths stay reachable (read+execute, or everything for
//! read-write paths) and the rest of the tree is refused, even if a mount
//! mistake exposed it. Also the filesystem layer on hosts without user
//! namespaces.

use std::path::Path;

use ::landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use script_sandbox_spec::LandlockRules;

use crate::error::{StepError, StepResult};

/// The ABI whose access rights we ask for (tested; newer kernels are
/// backwards compatible, older ones get the subset they support).
const TARGET_ABI: ABI = ABI::V5;
/// What `required` guarantees: reads, writes, execution and truncation
/// (ABI 3, Linux 6.2) are all fenced, and (ABI 6, Linux 6.12) signals and
/// abstract Unix sockets cannot reach outside the sandbox — or the run fails.
/// Without a PID namespace, the signal scope is what keeps the script from
/// killing the supervisor or other runs.
const REQUIRED_ABI: ABI = ABI::V3;
const SCOPE_ABI: ABI = ABI::V6;

fn err(e: impl std::fmt::Display) -> StepError {
    StepError::msg("landlock", e.to_string())
}

/// Access for one path: files cannot carry directory-only rights.
fn access_for(path: &Path, wanted: BitFlags<AccessFs>) -> Option<BitFlags<AccessFs>> {
    let meta = std::fs::metadata(path).ok()?;
    Some(if meta.is_dir() {
        wanted
    } else {
        wanted & AccessFs::from_file(TARGET_ABI)
    })
}

pub fn apply(rules: &LandlockRules) -> StepResult<()> {
    let mut ruleset = Ruleset::default();
    if rules.required {
        ruleset = ruleset
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(REQUIRED_ABI))
            .and_then(|r| r.scope(Scope::from_all(SCOPE_ABI)))
            .map_err(|e| {
                StepError::msg(
                    "landlock",
                    format!("kernel cannot enforce the required fence: {e}"),
                )
            })?;
    }
    let mut created = ruleset
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .and_then(|r| r.scope(Scope::from_all(SCOPE_ABI)))
        .map_err(err)?
        .create()
        .map_err(err)?;
    let groups = [
        (&rules.read_only, AccessFs::from_read(TARGET_ABI)),
        (&rules.read_write, AccessFs::from_all(TARGET_ABI)),
    ];
    for (paths, wanted) in groups {
        for p in paths {
            let path = Path::new(p);
            // Paths that do not exist in this root are simply not granted.
            let Some(access) = access_for(path, wanted) else {
                continue;
            };
            let Ok(fd) = PathFd::new(path) else { continue };
            created = created
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|e| StepError::msg("landlock", format!("rule for {p}: {e}")))?;
        }
    }
    let status = created.restrict_self().map_err(err)?;
    if rules.required && status.ruleset == RulesetStatus::NotEnforced {
        return Err(StepError::msg(
            "landlock",
            "Landlock is not supported or not enabled by this kernel",
        ));
    }
    Ok(())
}
