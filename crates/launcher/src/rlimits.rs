//! Resource limits set with `setrlimit` in the final child (soft = hard, so the
//! command cannot raise them again).

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use script_sandbox_spec::{Rlimit, RlimitResource};

use crate::error::{Step, StepResult};

fn resource(r: RlimitResource) -> (Resource, &'static str) {
    match r {
        RlimitResource::Cpu => (Resource::RLIMIT_CPU, "CPU"),
        RlimitResource::Nofile => (Resource::RLIMIT_NOFILE, "NOFILE"),
        RlimitResource::Nproc => (Resource::RLIMIT_NPROC, "NPROC"),
        RlimitResource::Fsize => (Resource::RLIMIT_FSIZE, "FSIZE"),
        RlimitResource::Core => (Resource::RLIMIT_CORE, "CORE"),
    }
}

/// Apply every limit. A value above the current hard limit is clamped to it:
/// raising a hard limit needs CAP_SYS_RESOURCE on the host, and the lower
/// existing limit is at least as strict as the one asked for.
pub fn apply(limits: &[Rlimit]) -> StepResult<()> {
    for lim in limits {
        let (res, name) = resource(lim.resource);
        let step = format!("setrlimit {name}");
        let (_, hard) = getrlimit(res).step(&step, "getrlimit")?;
        let value = lim.value.min(hard);
        setrlimit(res, value, value).step(&step, &format!("setrlimit to {value}"))?;
    }
    Ok(())
}
