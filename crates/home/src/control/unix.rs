//! The control channel on Linux and macOS: a Unix socket in the owner's 0700 folder, and the
//! connecting process's executable from the kernel (`SO_PEERCRED`, `/proc/<pid>/exe`).

use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use super::{ControlError, Refusal};

pub(super) type ServerStream = UnixStream;

/// `<config>/run/agent.sock`.
pub(super) fn address(config: &Path) -> PathBuf {
    config.join("run").join("agent.sock")
}

fn check_len(path: &Path) -> Result<(), ControlError> {
    let len = path.as_os_str().len();
    if len > 100 {
        return Err(ControlError::PathTooLong { path: path.to_owned(), len });
    }
    Ok(())
}

pub(super) struct Listener(UnixListener);

impl Listener {
    pub(super) async fn accept(&mut self) -> std::io::Result<ServerStream> {
        self.0.accept().await.map(|(stream, _)| stream)
    }
}

pub(super) async fn bind(path: &Path) -> Result<Listener, ControlError> {
    use std::os::unix::fs::PermissionsExt as _;
    check_len(path)?;
    if let Some(dir) = path.parent() {
        let folder_error = |source| ControlError::Io { what: "creating the folder of", path: path.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(folder_error)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(folder_error)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(ControlError::AlreadyRunning { path: path.to_owned() });
        }
        std::fs::remove_file(path).map_err(|source| ControlError::Io {
            what: "removing the stale",
            path: path.to_owned(),
            source,
        })?;
    }
    let listener = UnixListener::bind(path).map_err(|source| ControlError::Io {
        what: "binding",
        path: path.to_owned(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| ControlError::Io {
        what: "restricting",
        path: path.to_owned(),
        source,
    })?;
    Ok(Listener(listener))
}

pub(super) async fn connect(path: &Path) -> Result<UnixStream, ControlError> {
    check_len(path)?;
    UnixStream::connect(path).await.map_err(|source| ControlError::Io {
        what: "connecting to",
        path: path.to_owned(),
        source,
    })
}

/// The process at the other end of `stream`, and the executable it runs.
pub(super) fn peer_executable(stream: &UnixStream) -> Result<(u32, PathBuf), Refusal> {
    let refuse = |reason: String| Refusal { reason };
    let cred = stream.peer_cred().map_err(|e| refuse(format!("its credentials cannot be read: {e}")))?;
    let pid = cred.pid().ok_or_else(|| refuse("the kernel gave no process id".to_owned()))?;
    let pid = u32::try_from(pid).map_err(|_| refuse(format!("the kernel gave process id {pid}")))?;
    let exe = executable_of(pid).map_err(|e| refuse(format!("the executable of process {pid} cannot be read: {e}")))?;
    Ok((pid, exe))
}

#[cfg(not(target_os = "macos"))]
fn executable_of(pid: u32) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
}

/// macOS has no /proc: the kernel's path of the process's executable.
#[cfg(target_os = "macos")]
fn executable_of(pid: u32) -> std::io::Result<PathBuf> {
    use std::os::unix::ffi::OsStringExt as _;
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::other("process id out of range"))?;
    let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
    // SAFETY: `buf` is writable for the length passed.
    let n = unsafe { libc::proc_pidpath(pid, buf.as_mut_ptr().cast(), buf.len() as u32) };
    if n <= 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(std::ffi::OsString::from_vec(buf)))
}
