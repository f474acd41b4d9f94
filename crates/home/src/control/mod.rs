//! The desktop agent's control socket: how the app's window talks to the agent that earns.
//!
//! The agent (tray, local network, provider) is one process; each window is another, started and
//! ended as the owner opens and closes it, so closing the window frees everything a webview holds.
//! They speak newline-delimited JSON over a local channel that only the owner's processes reach
//! (a Unix socket in the config folder on Linux and macOS, a named pipe on Windows: the
//! platform's part is [`transport`]):
//! the window sends [`Call`]s (a command's name and its arguments, as the UI sent them), the agent
//! answers each with a [`Message::Reply`] and pushes [`Message::Event`]s (benchmark progress) and
//! [`Message::Quit`] (the tray's "Quit") to every window.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use gridmint_protocol::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::{broadcast, mpsc, oneshot},
};

use crate::Paths;

#[cfg(unix)]
#[path = "unix.rs"]
mod transport;
#[cfg(windows)]
#[path = "windows.rs"]
mod transport;

/// A command from a window: its name and its arguments (`{"request": {...}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub id: u64,
    pub command: String,
    #[serde(default)]
    pub args: Value,
}

/// What the agent writes to a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Message {
    /// The answer to the call `id`: its value, or the error.
    Reply {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ok: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        err: Option<ApiError>,
    },
    /// A UI event, passed on to the page as it is.
    Event { name: String, payload: Value },
    /// The agent quits (the tray's "Quit"): the window closes too.
    Quit,
}

/// Where the agent of the home `paths` listens. On Unix `<config>/run/agent.sock`: in the config
/// folder, a move of the data folder does not move it, and the window finds it before the agent
/// has started; `run` is the owner's alone (0700), so nobody else reaches the socket, not even in
/// the instant between binding it and restricting it. On Windows the named pipe
/// `\\.\pipe\gridmint-agent-<hash of the config folder>` (pipes have no folder), whose access
/// list admits the owner's account alone.
pub fn socket_path(paths: &Paths) -> PathBuf {
    transport::address(&paths.config)
}

/// Why the control socket failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the agent's socket {path} is {len} bytes long; Unix sockets take at most 100: choose a shorter home")]
    PathTooLong { path: PathBuf, len: usize },
    #[error("another Gridmint agent already serves {path}")]
    AlreadyRunning { path: PathBuf },
    #[error("{what} the agent's socket {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        ApiError::new(ErrorCode::Internal, e.to_string())
    }
}

/// The error a window's call gets when the agent is gone.
fn agent_gone(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::NetworkUnavailable, format!("the Gridmint agent is not answering ({detail})"))
}

/// The agent's end of the channel, bound by [`bind`].
pub struct Listener(transport::Listener);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

/// Binds the agent's end at `path` ([`socket_path`]): one agent per home. On Unix a socket file
/// nobody answers on (an agent that crashed) is replaced; one that answers is another agent's,
/// and this one must not start ([`ControlError::AlreadyRunning`]). A Windows pipe ends with its
/// process, and a second agent's first instance of the name is refused.
pub async fn bind(path: &Path) -> Result<Listener, ControlError> {
    transport::bind(path).await.map(Listener)
}

/// Why a process was not admitted to the agent's socket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub reason: String,
}

/// Who may talk to the agent. The channel is the owner's alone (a 0600 socket in a 0700 folder;
/// a pipe whose access list names the owner's account), which keeps other users out but not the
/// owner's other programs: any script the owner runs could ask the agent to export the wallet's
/// recovery phrase or to change the payout address. So the agent also asks the kernel who
/// connected (`SO_PEERCRED`; `GetNamedPipeClientProcessId`) and admits only the processes running
/// one of its own executables: the app's window (and the agent itself).
#[derive(Debug, Clone)]
pub enum Admit {
    /// Processes whose executable (`/proc/<pid>/exe`, the process's image name) is one of these
    /// files.
    Executables(Vec<PathBuf>),
    /// Every process of the owner: for tests of the protocol itself.
    Owner,
}

impl Admit {
    /// The agent's own executable and the window beside it (`gridmint-app`, installed and built
    /// side by side): the files a window's process may run.
    pub fn app_beside(agent_exe: &Path) -> Self {
        let mut files = vec![agent_exe.to_owned()];
        if let Some(dir) = agent_exe.parent() {
            files.push(dir.join(format!("gridmint-app{}", std::env::consts::EXE_SUFFIX)));
        }
        Admit::Executables(files.iter().map(|f| f.canonicalize().unwrap_or_else(|_| f.clone())).collect())
    }

    /// Whether the process at the other end of `stream` may call the agent; why not, if not.
    fn check(&self, stream: &transport::ServerStream) -> Result<(), Refusal> {
        let Admit::Executables(allowed) = self else { return Ok(()) };
        let (pid, exe) = transport::peer_executable(stream)?;
        if allowed.contains(&exe) {
            Ok(())
        } else {
            Err(Refusal { reason: format!("process {pid} runs {}, not the Gridmint app", exe.display()) })
        }
    }
}

/// What answers a window's calls: the command's name and arguments in, its value or error out.
pub type Handler =
    Arc<dyn Fn(String, Value) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send>> + Send + Sync>;

/// Serves windows on `listener` until the task is dropped (and every window with it): every call
/// runs on its own task (a benchmark does not hold up a status read), and every window gets the
/// `pushes`. A connection from a process `admit` refuses is closed before it can call anything.
pub async fn serve(listener: Listener, handler: Handler, pushes: broadcast::Sender<Message>, admit: Admit) {
    let Listener(mut listener) = listener;
    let mut windows = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    if let Err(why) = admit.check(&stream) {
                        tracing::warn!(reason = %why, "refused a connection to the agent's socket");
                        continue;
                    }
                    windows.spawn(serve_window(stream, handler.clone(), pushes.subscribe()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a window could not connect");
                    // Not a busy loop where the channel keeps failing (no pipe instance to make).
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = windows.join_next() => {}
        }
    }
}

async fn serve_window(stream: transport::ServerStream, handler: Handler, mut pushes: broadcast::Receiver<Message>) {
    let (read, mut write) = tokio::io::split(stream);
    let (replies, mut outgoing) = mpsc::unbounded_channel::<Message>();
    let mut calls = tokio::task::JoinSet::new();
    let mut lines = BufReader::new(read).lines();
    tracing::info!("a window connected");
    loop {
        let message = tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                match serde_json::from_str::<Call>(&line) {
                    Ok(call) => {
                        let (handler, replies) = (handler.clone(), replies.clone());
                        calls.spawn(async move {
                            let (ok, err) = match handler(call.command, call.args).await {
                                Ok(value) => (Some(value), None),
                                Err(e) => (None, Some(e)),
                            };
                            let _ = replies.send(Message::Reply { id: call.id, ok, err });
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "a window sent a line that is not a call; ignored"),
                }
                continue;
            }
            Some(reply) = outgoing.recv() => reply,
            push = pushes.recv() => match push {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "a slow window missed events");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some(_) = calls.join_next() => continue,
        };
        let Ok(mut line) = serde_json::to_vec(&message) else { continue };
        line.push(b'\n');
        if write.write_all(&line).await.is_err() {
            break;
        }
    }
    tracing::info!("a window disconnected");
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, ApiError>>>>>;

/// A window's end of the socket.
#[derive(Debug, Clone)]
pub struct AgentLink {
    next: Arc<AtomicU64>,
    /// Set when the agent closed the connection.
    closed: Arc<std::sync::atomic::AtomicBool>,
    pending: Pending,
    calls: mpsc::UnboundedSender<Call>,
}

impl AgentLink {
    /// Connects to the agent at `path`; the agent's events and requests (not replies) arrive on
    /// the receiver, which ends when the agent goes.
    pub async fn connect(path: &Path) -> Result<(Self, mpsc::UnboundedReceiver<Message>), ControlError> {
        let (read, write) = tokio::io::split(transport::connect(path).await?);
        // The writing half is shared with the reader, which drops it when the agent goes: the
        // channel's handle must close then, not when the last clone of this link is dropped. A
        // Windows pipe's name lives while a window's end of it is open, and the next agent could
        // not take it ("already running") while a window held a link to the gone one.
        let write = Arc::new(tokio::sync::Mutex::new(Some(write)));
        let pending: Pending = Arc::default();
        let (calls, mut outgoing) = mpsc::unbounded_channel::<Call>();
        let (pushes, received) = mpsc::unbounded_channel();
        let writer = write.clone();
        tokio::spawn(async move {
            while let Some(call) = outgoing.recv().await {
                let Ok(mut line) = serde_json::to_vec(&call) else { continue };
                line.push(b'\n');
                let mut write = writer.lock().await;
                let Some(open) = write.as_mut() else { break };
                if open.write_all(&line).await.is_err() {
                    break;
                }
            }
        });
        let answered = pending.clone();
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader_closed = closed.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Message>(&line) {
                    Ok(Message::Reply { id, ok, err }) => {
                        let result = match (ok, err) {
                            (_, Some(e)) => Err(e),
                            (ok, None) => Ok(ok.unwrap_or(Value::Null)),
                        };
                        let waiter = answered.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(result);
                        }
                    }
                    Ok(other) => {
                        let _ = pushes.send(other);
                    }
                    Err(e) => tracing::warn!(error = %e, "the agent sent a line that is not a message"),
                }
            }
            // The agent is gone: the channel closes (both halves dropped), then every call still
            // waiting fails now, not never.
            drop(lines);
            write.lock().await.take();
            reader_closed.store(true, Ordering::Relaxed);
            for (_, waiter) in answered.lock().unwrap_or_else(|p| p.into_inner()).drain() {
                let _ = waiter.send(Err(agent_gone("it closed the connection")));
            }
        });
        Ok((Self { next: Arc::new(AtomicU64::new(1)), closed, pending, calls }, received))
    }

    /// Calls `command` with `args` and waits for the agent's answer.
    pub async fn call(&self, command: &str, args: Value) -> Result<Value, ApiError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, answer);
        // Checked after the waiter is in: a reader that ended before it was cannot answer it.
        if self.closed.load(Ordering::Relaxed)
            || self.calls.send(Call { id, command: command.to_owned(), args }).is_err()
        {
            self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            return Err(agent_gone("the connection is closed"));
        }
        answered.await.unwrap_or_else(|_| Err(agent_gone("the connection is closed")))
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Relaxed) && !self.calls.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_handler() -> Handler {
        Arc::new(|command, args| {
            Box::pin(async move {
                match command.as_str() {
                    "echo" => Ok(args),
                    "slow" => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        Ok(Value::from("slow"))
                    }
                    other => Err(ApiError::new(ErrorCode::InvalidInput, format!("no command {other}"))),
                }
            })
        })
    }

    /// Binds `path` again after this process's last agent end there was dropped. A dropped
    /// Windows pipe instance with a connect pending closes when its cancellation completes, a
    /// moment later (mio); an agent that exits frees its pipes at once.
    async fn bind_when_free(path: &Path) -> Result<Listener, ControlError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            match bind(path).await {
                Err(ControlError::AlreadyRunning { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_window_calls_gets_errors_and_events_and_learns_when_the_agent_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = transport::address(dir.path());
        let listener = bind(&path).await.expect("bind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode(&dir.path().join("run")), 0o700, "the socket's folder is the owner's alone");
            assert_eq!(mode(&path), 0o600, "and so is the socket");
        }
        let second = bind(&path).await;
        assert!(matches!(second, Err(ControlError::AlreadyRunning { .. })), "one agent per home: {second:?}");
        let (pushes, _) = broadcast::channel(16);
        let server = tokio::spawn(serve(listener, echo_handler(), pushes.clone(), Admit::Owner));
        let (link, mut events) = AgentLink::connect(&path).await.expect("connect");

        let args = serde_json::json!({"request": {"refresh": true}});
        assert_eq!(link.call("echo", args.clone()).await, Ok(args));
        let err = link.call("nope", Value::Null).await.expect_err("an unknown command fails");
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("nope"), "{err:?}");

        // Calls do not wait for each other: the quick one answers while the slow one runs.
        let (slow, quick) = tokio::join!(link.call("slow", Value::Null), async {
            let started = std::time::Instant::now();
            let answer = link.call("echo", Value::from(1)).await;
            (answer, started.elapsed())
        });
        assert_eq!(slow, Ok(Value::from("slow")));
        assert_eq!(quick.0, Ok(Value::from(1)));
        assert!(quick.1 < std::time::Duration::from_millis(150), "the quick call waited: {:?}", quick.1);

        let event = Message::Event { name: "benchmark-progress".into(), payload: serde_json::json!({"done": 1}) };
        // The window's reader subscribes on connect; wait until it has.
        while pushes.receiver_count() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        pushes.send(event.clone()).expect("a window listens");
        assert_eq!(events.recv().await, Some(event));

        // The agent goes: waiting calls fail with a clear error, the events end.
        server.abort();
        let _ = server.await;
        drop(pushes);
        let gone = tokio::time::timeout(std::time::Duration::from_secs(5), link.call("slow", Value::Null))
            .await
            .expect("a call to a gone agent fails, not hangs");
        assert_eq!(gone.expect_err("the agent is gone").code, ErrorCode::NetworkUnavailable);
        assert!(!link.is_open(), "the link knows the agent is gone");
        // The next agent takes the channel while the window still holds its link to the gone one
        // (a stale socket file is replaced; a pipe's name is free once the window's end closed).
        let again = bind_when_free(&path).await;
        assert!(again.is_ok(), "{:?}", again.err());
        drop(link);
    }

    /// Another program of the owner (a script, `socat`) connects to the agent's socket to export
    /// the recovery phrase: the agent admits only processes that run the app's executables.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_another_program_of_the_owner_cannot_call_the_agent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = transport::address(dir.path());
        let (pushes, _) = broadcast::channel(16);
        // An agent that admits only the app beside an agent in another folder: this test's
        // process is neither.
        let elsewhere = dir.path().join("bin").join("gridmint-agent");
        let server = tokio::spawn(serve(
            bind(&path).await.expect("bind"),
            echo_handler(),
            pushes.clone(),
            Admit::app_beside(&elsewhere),
        ));
        let (link, _) = AgentLink::connect(&path).await.expect("the socket accepts, then closes");
        let err = link.call("echo", Value::from(1)).await.expect_err("refused");
        assert_eq!(err.code, ErrorCode::NetworkUnavailable, "{err:?}");
        server.abort();
        let _ = server.await;
        // The same agent admitting this test's own executable answers it.
        let me = std::env::current_exe().expect("exe");
        let server = tokio::spawn(serve(
            bind_when_free(&path).await.expect("bind"),
            echo_handler(),
            pushes,
            Admit::app_beside(&me),
        ));
        let (link, _) = AgentLink::connect(&path).await.expect("connect");
        assert_eq!(link.call("echo", Value::from(1)).await, Ok(Value::from(1)), "its own executable is admitted");
        server.abort();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_socket_path_too_long_is_refused_with_its_length() {
        let long = PathBuf::from(format!("/tmp/{}/agent.sock", "x".repeat(120)));
        let err = bind(&long).await.expect_err("too long");
        assert!(err.to_string().contains("at most 100"), "{err}");
    }
}
