//! The control channel on Windows: a named pipe that only the owner's account can open (its
//! access list and its owner are the account's SID), remote clients refused, and the connecting
//! process's executable from the pipe (`GetNamedPipeClientProcessId`).
//!
//! Pipe names are global to the machine, so another account could create this home's name first
//! and pose as the agent: a window checks that the pipe it opened is owned by its own account.

use std::{
    ffi::{OsStr, OsString, c_void},
    os::windows::{
        ffi::{OsStrExt as _, OsStringExt as _},
        io::AsRawHandle as _,
    },
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions};
use windows_sys::Win32::{
    Foundation::{CloseHandle, ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY, ERROR_SUCCESS, HANDLE, HLOCAL, LocalFree},
    Security::{
        Authorization::{
            ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
            SDDL_REVISION_1, SE_KERNEL_OBJECT,
        },
        EqualSid, GetTokenInformation, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES,
        TOKEN_QUERY, TOKEN_USER, TokenUser,
    },
    System::{
        Pipes::GetNamedPipeClientProcessId,
        Threading::{
            GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION,
            QueryFullProcessImageNameW,
        },
    },
};

use super::{ControlError, Refusal};

pub(super) type ServerStream = NamedPipeServer;

/// `\\.\pipe\gridmint-agent-<16 hex digits>`: FNV-1a of the config folder's path, so each home
/// has its own agent (a stable hash: the window and the agent of one install must agree). The
/// path is made canonical and lower case first: Windows paths that differ only in case, a `\\?\`
/// prefix or a short name are one folder, and must be one agent.
pub(super) fn address(config: &Path) -> PathBuf {
    let canonical = config.canonicalize().unwrap_or_else(|_| config.to_owned());
    let lower = canonical.as_os_str().to_string_lossy().to_lowercase();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for unit in OsStr::new(&lower).encode_wide() {
        for byte in unit.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    PathBuf::from(format!(r"\\.\pipe\gridmint-agent-{hash:016x}"))
}

fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

/// Closes a handle on drop.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: a handle this module opened and nothing else closes.
        unsafe { CloseHandle(self.0) };
    }
}

/// Frees a LocalAlloc'd block on drop.
struct Local(*mut c_void);

impl Drop for Local {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a block the system allocated for this module with LocalAlloc.
            unsafe { LocalFree(self.0 as HLOCAL) };
        }
    }
}

/// This process's account (`TOKEN_USER`), in a buffer aligned for it.
fn account() -> std::io::Result<Vec<u64>> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the current process's pseudo-handle; `token` receives a handle closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let token = Owned(token);
    let mut len = 0u32;
    // SAFETY: a size query: no buffer, `len` receives the size needed.
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: `buf` holds `len` bytes, aligned for TOKEN_USER.
    if unsafe { GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(buf)
}

fn sid_of(account: &[u64]) -> PSID {
    // SAFETY: `account` was filled by GetTokenInformation(TokenUser).
    unsafe { (*account.as_ptr().cast::<TOKEN_USER>()).User.Sid }
}

/// The pipe's security: owned by this account, and only it may open the pipe (`O:<sid>D:P(A;;GA;;;<sid>)`).
fn owner_only() -> std::io::Result<Vec<u16>> {
    let account = account()?;
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: a valid SID in; `text` receives a LocalAlloc'd string, freed below.
    if unsafe { ConvertSidToStringSidW(sid_of(&account), &mut text) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let text = Local(text.cast());
    // SAFETY: a NUL-terminated string from ConvertSidToStringSidW.
    let sid = unsafe {
        let p = text.0.cast::<u16>();
        let len = (0..).take_while(|&i| *p.add(i) != 0).count();
        OsString::from_wide(std::slice::from_raw_parts(p, len))
    };
    let sid = sid.to_string_lossy();
    Ok(wide(OsStr::new(&format!("O:{sid}D:P(A;;GA;;;{sid})"))))
}

/// One instance of the pipe `name`, with the security `sddl`.
fn instance(name: &OsStr, sddl: &[u16], first: bool) -> std::io::Result<NamedPipeServer> {
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: a NUL-terminated SDDL string; `descriptor` receives a LocalAlloc'd block.
    if unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    } == 0
    {
        return Err(std::io::Error::last_os_error());
    }
    let descriptor = Local(descriptor);
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    // SAFETY: `attributes` and the descriptor it points to outlive the call.
    unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create_with_security_attributes_raw(name, (&raw mut attributes).cast())
    }
}

pub(super) struct Listener {
    name: OsString,
    sddl: Vec<u16>,
    next: NamedPipeServer,
}

impl Listener {
    /// The next window: the waiting instance connects, a fresh one waits for the one after.
    pub(super) async fn accept(&mut self) -> std::io::Result<ServerStream> {
        let connected = self.next.connect().await;
        let fresh = instance(&self.name, &self.sddl, false)?;
        let waited = std::mem::replace(&mut self.next, fresh);
        connected.map(|()| waited)
    }
}

pub(super) async fn bind(path: &Path) -> Result<Listener, ControlError> {
    let io = |what| move |source| ControlError::Io { what, path: path.to_owned(), source };
    let sddl = owner_only().map_err(io("reading this account for"))?;
    // A pipe that opens (or whose every instance is taken) has an agent behind it. Asked first:
    // Wine 8 ignores FILE_FLAG_FIRST_PIPE_INSTANCE, which covers the race on Windows. A pipe of
    // another account under this home's name is said as such: the owner must learn of it, not
    // see an agent that quietly did not start.
    let squatted = |why: String| ControlError::Io {
        what: "another account holds",
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, why),
    };
    match ClientOptions::new().open(path) {
        Ok(probe) => {
            return Err(match check_owner(&probe) {
                Ok(()) => ControlError::AlreadyRunning { path: path.to_owned() },
                Err(e) => squatted(e.to_string()),
            });
        }
        Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
            return Err(ControlError::AlreadyRunning { path: path.to_owned() });
        }
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
            return Err(squatted("a pipe of this name exists that this account may not open".into()));
        }
        Err(_) => {}
    }
    match instance(path.as_os_str(), &sddl, true) {
        Ok(next) => Ok(Listener { name: path.as_os_str().to_owned(), sddl, next }),
        // The name exists: another agent of this home (or another account's squatter, which
        // windows refuse to talk to).
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
            Err(ControlError::AlreadyRunning { path: path.to_owned() })
        }
        Err(e) => Err(io("creating")(e)),
    }
}

pub(super) async fn connect(path: &Path) -> Result<NamedPipeClient, ControlError> {
    let io = |what| move |source| ControlError::Io { what, path: path.to_owned(), source };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let client = loop {
        match ClientOptions::new().open(path) {
            Ok(client) => break client,
            // Every instance is taken for the moment: the agent makes another at once.
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(io("connecting to")(e)),
        }
    };
    check_owner(&client).map_err(io("checking the owner of"))?;
    Ok(client)
}

/// Refuses a pipe another account made (a squatter posing as the agent).
fn check_owner(client: &NamedPipeClient) -> std::io::Result<()> {
    let account = account()?;
    let mut owner: PSID = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: an open pipe handle; `owner` points into `descriptor`, a LocalAlloc'd block freed below.
    let status = unsafe {
        GetSecurityInfo(
            client.as_raw_handle(),
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(status as i32));
    }
    let _descriptor = Local(descriptor);
    // SAFETY: two valid SIDs.
    if unsafe { EqualSid(owner, sid_of(&account)) } == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "another account owns this pipe: it is not this owner's agent",
        ));
    }
    Ok(())
}

/// The process at the other end of `stream`, and the executable it runs.
pub(super) fn peer_executable(stream: &NamedPipeServer) -> Result<(u32, PathBuf), Refusal> {
    let refuse = |reason: String| Refusal { reason };
    let mut pid = 0u32;
    // SAFETY: an open pipe handle; `pid` receives the client's process id.
    if unsafe { GetNamedPipeClientProcessId(stream.as_raw_handle(), &mut pid) } == 0 {
        return Err(refuse(format!("its process cannot be read: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: `pid` from the pipe; the handle is closed below.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return Err(refuse(format!("process {pid} cannot be opened: {}", std::io::Error::last_os_error())));
    }
    let process = Owned(process);
    let mut buf = vec![0u16; 32_768];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` holds `len` UTF-16 units.
    if unsafe { QueryFullProcessImageNameW(process.0, PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len) } == 0 {
        return Err(refuse(format!(
            "the executable of process {pid} cannot be read: {}",
            std::io::Error::last_os_error()
        )));
    }
    let exe = PathBuf::from(OsString::from_wide(&buf[..len as usize]));
    // The allowed files are canonical (`\\?\C:\...`); so is this, to compare.
    Ok((pid, exe.canonicalize().unwrap_or(exe)))
}
