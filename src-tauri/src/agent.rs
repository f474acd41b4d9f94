//! The window's link to the agent: connected on first use, the agent started if none runs for
//! this home, and connected again after the agent went (a crash, a restart).

use std::{path::PathBuf, time::Duration};

use gridmint_home::{
    Paths,
    control::{self, AgentLink, Message},
};
use gridmint_protocol::{ApiError, ErrorCode};
use tokio::sync::mpsc::UnboundedReceiver;

/// How long a starting agent has to open its socket.
const AGENT_START: Duration = Duration::from_secs(30);

/// The window's connection, made on first use.
pub(crate) struct AgentConnection {
    paths: Paths,
    link: tokio::sync::Mutex<Option<AgentLink>>,
}

impl AgentConnection {
    pub(crate) fn new(paths: Paths) -> Self {
        Self { paths, link: tokio::sync::Mutex::new(None) }
    }

    /// The open link, connecting (and starting the agent) first when there is none.
    pub(crate) async fn link(&self, app: &tauri::AppHandle) -> Result<AgentLink, ApiError> {
        let mut link = self.link.lock().await;
        if let Some(open) = link.as_ref().filter(|l| l.is_open()) {
            return Ok(open.clone());
        }
        let (fresh, pushes) = connect_or_start(&self.paths).await?;
        crate::forward(app.clone(), pushes);
        *link = Some(fresh.clone());
        Ok(fresh)
    }
}

/// The agent executable: GRIDMINT_AGENT, else `gridmint-agent` beside this one.
fn agent_exe() -> Result<PathBuf, ApiError> {
    if let Some(path) = std::env::var_os("GRIDMINT_AGENT") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("could not find this program's folder: {e}")))?;
    let beside = exe.with_file_name(format!("gridmint-agent{}", std::env::consts::EXE_SUFFIX));
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(ApiError::new(
            ErrorCode::Internal,
            format!("the Gridmint agent is not installed: no {} (build it with `make app`)", beside.display()),
        ))
    }
}

/// Connects to this home's agent, starting it first when none answers.
pub(crate) async fn connect_or_start(paths: &Paths) -> Result<(AgentLink, UnboundedReceiver<Message>), ApiError> {
    let socket = control::socket_path(paths);
    if let Ok(connected) = AgentLink::connect(&socket).await {
        return Ok(connected);
    }
    let exe = agent_exe()?;
    tracing::info!(agent = %exe.display(), "starting the agent");
    let mut command = std::process::Command::new(&exe);
    // Its log goes to its own file, and to the window's stderr while there is one.
    command.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    // Its own process group: a terminal's Ctrl-C to the window does not stop the earning.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    // On Windows likewise its own group, and no console window of its own.
    #[cfg(windows)]
    {
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        std::os::windows::process::CommandExt::creation_flags(
            &mut command,
            CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW,
        );
    }
    let mut child = command
        .spawn()
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("could not start {}: {e}", exe.display())))?;
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(connected) = AgentLink::connect(&socket).await {
            // Reaped when it exits, if this window is still open then.
            std::thread::spawn(move || child.wait());
            return Ok(connected);
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Another window's agent may have won the race for the socket.
            if let Ok(connected) = AgentLink::connect(&socket).await {
                return Ok(connected);
            }
            return Err(ApiError::new(
                ErrorCode::Internal,
                format!("the agent exited at start ({status}); its log is in {}", paths.logs.display()),
            ));
        }
        if started.elapsed() > AGENT_START {
            return Err(ApiError::new(
                ErrorCode::NetworkUnavailable,
                format!("the agent did not open {} within {} s", socket.display(), AGENT_START.as_secs()),
            ));
        }
    }
}
