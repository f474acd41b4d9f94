//! The desktop agent's library: what only the desktop needs, beside the binary (`main.rs`) that
//! runs it and the tests that drive it.
//!
//! Module map:
//! - [`local`]: the embedded local network the app runs on by default (a devnet, this machine
//!   as provider, the buyer's jobs), or the owner's network; blocking methods for the commands.
//! - [`limits`]: the owner's limits on earning (hours, AC power, GPU temperature, other
//!   programs' GPU work) and the sensors that read them.
//! - [`console_program`], [`owner_program`]: how the agent starts other programs.

pub mod limits;
pub mod local;

#[cfg(windows)]
use windows_sys::Win32::System::Threading::{CREATE_BREAKAWAY_FROM_JOB, CREATE_NO_WINDOW};
#[cfg(not(windows))]
const CREATE_NO_WINDOW: u32 = 0;
#[cfg(not(windows))]
const CREATE_BREAKAWAY_FROM_JOB: u32 = 0;

/// A command for a console program (nvidia-smi, anvil) that opens no console window: on Windows
/// the agent has none for it to share.
pub fn console_program(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    command(program, CREATE_NO_WINDOW)
}

/// A command for a program the owner uses on their own (the app's window, a folder in the file
/// manager): on Windows it leaves the agent's job, so it outlives the agent.
pub fn owner_program(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    command(program, CREATE_BREAKAWAY_FROM_JOB)
}

/// `program`, started with `windows_flags` (process creation flags) on Windows.
fn command(program: impl AsRef<std::ffi::OsStr>, windows_flags: u32) -> std::process::Command {
    let command = std::process::Command::new(program);
    #[cfg(windows)]
    let command = {
        let mut command = command;
        std::os::windows::process::CommandExt::creation_flags(&mut command, windows_flags);
        command
    };
    #[cfg(not(windows))]
    let _ = windows_flags;
    command
}
