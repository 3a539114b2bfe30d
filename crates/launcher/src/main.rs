//! `script-sandbox-launcher`: builds one sandbox from the `LaunchSpec` on fd 3,
//! reports progress on fd 4, and execs the command. See SPEC.md §4.
//!
//! Three processes: this launcher (outside every new namespace), the
//! namespace init it clones (setup, then PID 1 reaper), and the final child
//! that restricts itself and execs. One module per mechanism.

mod caps;
mod child;
mod error;
mod exec;
mod fds;
mod ids;
mod init;
mod landlock;
mod mounts;
mod namespaces;
mod net;
mod outer;
mod rlimits;
mod seccomp;
mod setup;
mod spec_io;

fn main() {
    error::install_panic_hook();
    std::process::exit(outer::run());
}
