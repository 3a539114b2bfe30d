//! script-sandbox's core: everything but the N-API glue and the launcher.
//!
//! Decide, then do: `policy` + `capabilities` feed the pure `plan`, which
//! yields a `LaunchSpec` for the launcher and the `report`; `run` supervises
//! one launched run on tokio.

pub mod capabilities;
pub mod egress;
pub mod env;
pub mod input;
pub mod network;
pub mod observability;
pub mod output;
pub mod plan;
pub mod policy;
pub mod report;
pub mod run;
pub mod scratch;
pub mod spawn;
