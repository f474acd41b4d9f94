//! How Windows asks a desktop program to stop: through a window. The agent has no console and
//! shows no window, so it keeps a hidden one whose messages are its stop requests:
//! - `WM_CLOSE`: `taskkill` without `/F` (the installer, before it replaces or removes the
//!   files), or any program closing the agent politely;
//! - `WM_QUERYENDSESSION`, `WM_ENDSESSION`: the owner logs off, or the machine shuts down.
//!   Windows ends the process once `WM_ENDSESSION` returns, so the window procedure holds it
//!   until the agent says it has stopped ([`stopped`]: the chain and the device workers ended;
//!   the log's last lines may still be in its writer's queue), at most [`SESSION_END_GRACE`]
//!   (Windows names the window, "Gridmint agent", meanwhile).
//!
//! The window opens first thing ([`open`]), so that a request during start-up is heard too.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DispatchMessageW, GetMessageW, MSG, RegisterClassW, TranslateMessage, WM_CLOSE,
    WM_ENDSESSION, WM_QUERYENDSESSION, WNDCLASSW, WS_OVERLAPPED,
};

/// Notified once per stop request; the permit waits if the agent is not listening yet.
static STOP: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Set when the agent has stopped: the session may end.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// How long `WM_ENDSESSION` holds the session's end for the agent to stop.
const SESSION_END_GRACE: Duration = Duration::from_secs(20);

/// Opens the hidden window on a thread of its own (its message loop).
pub(crate) fn open() -> std::io::Result<()> {
    let (opened, window) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("stop-window".into()).spawn(move || {
        // SAFETY: the window and its class are made, used and served on this thread only.
        unsafe { serve(opened) }
    })?;
    window.recv().map_err(|_| std::io::Error::other("the stop window's thread ended"))?
}

/// Resolves on the first stop request (one made before this call included).
pub(crate) async fn requested() {
    STOP.notified().await;
}

/// The agent has stopped: a session's end waits no longer.
pub(crate) fn stopped() {
    STOPPED.store(true, Ordering::SeqCst);
}

/// Registers the class, makes the window (top level, so that broadcasts and taskkill reach it;
/// never shown) and runs its message loop.
unsafe fn serve(opened: std::sync::mpsc::Sender<std::io::Result<()>>) {
    let class: Vec<u16> = "GridmintAgent\0".encode_utf16().collect();
    let title: Vec<u16> = "Gridmint agent\0".encode_utf16().collect();
    // SAFETY: plain Win32 calls with null-terminated UTF-16 strings that outlive them.
    unsafe {
        let instance = GetModuleHandleW(std::ptr::null());
        let description = WNDCLASSW {
            lpfnWndProc: Some(window_procedure),
            hInstance: instance,
            lpszClassName: class.as_ptr(),
            ..std::mem::zeroed()
        };
        if RegisterClassW(&description) == 0 {
            let _ = opened.send(Err(std::io::Error::last_os_error()));
            return;
        }
        let window = CreateWindowExW(
            0,
            class.as_ptr(),
            title.as_ptr(),
            WS_OVERLAPPED,
            0,
            0,
            0,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            instance,
            std::ptr::null(),
        );
        if window.is_null() {
            let _ = opened.send(Err(std::io::Error::last_os_error()));
            return;
        }
        let _ = opened.send(Ok(()));
        let mut message: MSG = std::mem::zeroed();
        while GetMessageW(&mut message, std::ptr::null_mut(), 0, 0) > 0 {
            TranslateMessage(&message);
            DispatchMessageW(&message);
        }
    }
}

unsafe extern "system" fn window_procedure(window: HWND, message: u32, wparam: WPARAM, lparam: LPARAM) -> LRESULT {
    match message {
        // Not destroyed: the window keeps hearing requests until the process ends.
        WM_CLOSE => {
            STOP.notify_one();
            0
        }
        // Yes, the session may end: the agent stops when it does.
        WM_QUERYENDSESSION => 1,
        WM_ENDSESSION => {
            if wparam != 0 {
                STOP.notify_one();
                let deadline = Instant::now() + SESSION_END_GRACE;
                while !STOPPED.load(Ordering::SeqCst) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            0
        }
        // SAFETY: the arguments are the ones Windows passed to this procedure.
        _ => unsafe { DefWindowProcW(window, message, wparam, lparam) },
    }
}
