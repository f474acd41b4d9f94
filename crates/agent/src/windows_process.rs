//! The agent's child processes on Windows. The agent is a GUI-subsystem program with no console,
//! so a console program it starts (anvil, nvidia-smi) would open a console window of its own,
//! and nothing ends a child when the agent is ended outright (Task Manager, `taskkill /F`):
//! - [`end_children_with_me`] puts the agent in a job object that ends every process in it (its
//!   children, theirs) when the agent's handle to it closes, as it does when the agent ends
//!   however it ends;
//! - [`launch_anvil`] is the agent's executable run as anvil's launcher (the devnet's
//!   `launcher`): anvil without a console window, in a job of the launcher's, so that alloy's
//!   ending of the launcher ends anvil too.

use std::ffi::OsString;
use std::process::ExitCode;

use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_BREAKAWAY_OK, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation, SetInformationJobObject,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

/// Puts this process in a new job that ends all of its processes when this process ends. Jobs
/// nest (Windows 8 and later): a job this process is already in stays in force.
pub(crate) fn end_children_with_me() -> std::io::Result<()> {
    // SAFETY: plain Win32 calls on handles made here; the job's handle is never closed, so that
    // it closes with this process.
    unsafe {
        let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
        if job.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
        // What the owner is shown (the window, a folder in Explorer) may leave the job
        // (`owner_program`); the rest ends with this process.
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK;
        let size = u32::try_from(std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>()).unwrap_or(u32::MAX);
        if SetInformationJobObject(job, JobObjectExtendedLimitInformation, (&raw const limits).cast(), size) == 0 {
            return Err(std::io::Error::last_os_error());
        }
        if AssignProcessToJobObject(job, GetCurrentProcess()) == 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `anvil` with this process's arguments, its standard handles and no console window, and
/// exits with its code: anvil ends with this process (see [`end_children_with_me`]).
pub(crate) fn launch_anvil(anvil: OsString) -> ExitCode {
    if let Err(e) = end_children_with_me() {
        eprintln!("warning: anvil's launcher made no job object ({e}): anvil may outlive it");
    }
    let status = gridmint_agent::console_program(&anvil)
        .args(std::env::args_os().skip(1))
        .env_remove(gridmint_node::devnet::ANVIL_LAUNCHER_ENV)
        .status();
    match status {
        Ok(status) => ExitCode::from(status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: anvil ({}) could not start: {e}", std::path::Path::new(&anvil).display());
            ExitCode::FAILURE
        }
    }
}
