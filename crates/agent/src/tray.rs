//! The tray icon (a StatusNotifierItem, over D-Bus): it shows idle / earning / paused / error, and
//! its menu opens the app's window, pauses or resumes earning, and quits.

use std::sync::{Arc, LazyLock, Mutex, Weak};

use ksni::TrayMethods as _;

use crate::{Agent, tray_icon::TrayState};

/// The app icon, RGBA, decoded once.
static APP_ICON: LazyLock<Option<(Vec<u8>, u32, u32)>> = LazyLock::new(|| {
    let decoder = png::Decoder::new(std::io::Cursor::new(&include_bytes!("../../../src-tauri/icons/32x32.png")[..]));
    let mut reader = decoder.read_info().ok()?;
    let mut rgba = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut rgba).ok()?;
    rgba.truncate(info.buffer_size());
    (info.color_type == png::ColorType::Rgba && info.bit_depth == png::BitDepth::Eight).then_some((
        rgba,
        info.width,
        info.height,
    ))
});

/// The tray as the agent sees it: what the idle detector and the owner's limits say, and the
/// state shown (kept to send D-Bus updates only on a change). Nothing happens without a tray.
#[derive(Default)]
pub(crate) struct TrayLink {
    handle: Mutex<Option<(ksni::Handle<GridmintTray>, tokio::runtime::Handle)>>,
    /// Set by the idle detector and the limits (waiting for the owner to leave, held, failed);
    /// `None` while they let work run.
    held: Mutex<Option<(TrayState, String)>>,
    shown: Mutex<Option<(TrayState, String, bool)>>,
}

impl std::fmt::Debug for TrayLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrayLink").finish_non_exhaustive()
    }
}

/// How often the tray follows the machine's activity.
pub(crate) const REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

impl TrayLink {
    /// What the idle detector or a limit says (`None`: work may run).
    pub(crate) fn hold(&self, held: Option<(TrayState, String)>) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = held;
    }

    /// Shows what the machine does now: paused by the owner, stopped, held, computing a job,
    /// or serving with none.
    pub(crate) fn refresh(&self, market: &gridmint_agent::local::LocalMarket) {
        use gridmint_agent::local::Activity;
        let paused = market.is_paused();
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (state, text) = match (paused, market.activity(), held) {
            (true, ..) => (TrayState::Paused, "Gridmint: paused".to_owned()),
            (_, Activity::Failed(message), _) => (TrayState::Error, format!("Gridmint: stopped ({message})")),
            (_, _, Some(held)) => held,
            (_, Activity::Starting, _) => (TrayState::Idle, "Gridmint: starting".to_owned()),
            (_, Activity::AwaitingSetUp, _) => (TrayState::Idle, "Gridmint: finish the set-up to earn".to_owned()),
            (_, Activity::Serving, _) => (TrayState::Idle, "Gridmint: ready, waiting for jobs".to_owned()),
            (_, Activity::Computing { job_id }, _) => (TrayState::Earning, format!("Gridmint: earning (job {job_id})")),
        };
        let next = (state, text.clone(), paused);
        {
            let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
            if shown.as_ref() == Some(&next) {
                return;
            }
            *shown = Some(next);
        }
        let Some((handle, runtime)) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        runtime.spawn(async move {
            handle
                .update(move |tray| {
                    tray.state = state;
                    tray.tooltip = text;
                    tray.paused = paused;
                })
                .await;
        });
    }
}

/// The tray item's state.
#[derive(Debug)]
pub(crate) struct GridmintTray {
    agent: Weak<Agent>,
    state: TrayState,
    tooltip: String,
    paused: bool,
}

impl ksni::Tray for GridmintTray {
    fn id(&self) -> String {
        "gridmint".into()
    }

    fn title(&self) -> String {
        "Gridmint".into()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        let Some((rgba, width, height)) = APP_ICON.as_ref() else { return Vec::new() };
        let mut data = crate::tray_icon::variant(rgba, *width, *height, self.state);
        for px in data.chunks_exact_mut(4) {
            px.rotate_right(1); // RGBA to ARGB
        }
        vec![ksni::Icon { width: *width as i32, height: *height as i32, data }]
    }

    /// Active while earning or serving, NeedsAttention when stopped, Passive otherwise.
    fn status(&self) -> ksni::Status {
        match self.state {
            TrayState::Error => ksni::Status::NeedsAttention,
            TrayState::Paused | TrayState::Waiting => ksni::Status::Passive,
            TrayState::Earning | TrayState::Idle => ksni::Status::Active,
        }
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip { title: self.tooltip.clone(), ..Default::default() }
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        tracing::info!(?reason, "no tray host yet; the icon shows when one starts");
        true
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        open_window();
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::StandardItem;
        vec![
            StandardItem {
                label: "Open Gridmint".into(),
                activate: Box::new(|_: &mut Self| open_window()),
                ..Default::default()
            }
            .into(),
            StandardItem {
                label: if self.paused { "Resume earning" } else { "Pause earning" }.into(),
                activate: Box::new(|tray: &mut Self| {
                    let Some(agent) = tray.agent.upgrade() else { return };
                    agent.market.set_paused(!agent.market.is_paused());
                    agent.tray.refresh(&agent.market);
                }),
                ..Default::default()
            }
            .into(),
            ksni::MenuItem::Separator,
            StandardItem {
                label: "Quit Gridmint".into(),
                activate: Box::new(|tray: &mut Self| {
                    if let Some(agent) = tray.agent.upgrade() {
                        agent.quit.notify_one();
                    }
                }),
                ..Default::default()
            }
            .into(),
        ]
    }
}

/// Puts the icon in the tray. Started at login, the agent may be up before the desktop's panel:
/// the item waits on the session bus for a tray host (a StatusNotifierWatcher) to come. Without a
/// session bus the agent runs on with no tray and says so in the log.
pub(crate) async fn spawn(agent: &Arc<Agent>) {
    let tray = GridmintTray {
        agent: Arc::downgrade(agent),
        state: TrayState::Idle,
        tooltip: "Gridmint: starting".into(),
        paused: agent.market.is_paused(),
    };
    match tray.assume_sni_available(true).spawn().await {
        Ok(handle) => {
            *agent.tray.handle.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((handle, tokio::runtime::Handle::current()));
            // It follows the machine from now on.
            let agent = Arc::downgrade(agent);
            tokio::spawn(async move {
                while let Some(agent) = agent.upgrade() {
                    agent.tray.refresh(&agent.market);
                    drop(agent);
                    tokio::time::sleep(REFRESH).await;
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "no tray icon (no session bus)"),
    }
}

/// Opens the app's window: `gridmint-app` beside the agent (a second one only brings the first
/// forward).
pub(crate) fn open_window() {
    let Some(app) = crate::beside_me("gridmint-app") else {
        tracing::error!("gridmint-app is not installed beside the agent; the window cannot open");
        return;
    };
    match gridmint_agent::owner_program(&app).spawn() {
        // Reaped on its own thread: the window outlives nothing here.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => tracing::error!(error = %e, app = %app.display(), "the window could not open"),
    }
}
