//! Gridmint's desktop UI. Runs inside the Tauri webview; talks to the agent only through [`ipc`].
//!
//! Module map:
//! - [`app`]: the frame: the first-run set-up, or the header with its tabs and the page shown.
//! - [`live`]: what every page reads (market status, job list; refreshed each second), timers.
//! - [`pages`]: one module per page: onboarding, dashboard, buy, jobs, hardware, wallet, settings;
//!   [`pages::Page`] names them.
//! - [`components`]: what several pages draw: the brand, fields, the error box, the job table,
//!   the background settings form.
//! - [`chart`]: the earnings chart (SVG).
//! - [`money`]: dollars as typed and shown, to and from the payment token's base units.
//! - [`format`]: times and sizes as shown.
//! - [`ipc`]: the one crossing into the shell (Tauri's invoke and events).

mod app;
mod chart;
mod components;
mod format;
mod ipc;
mod live;
mod money;
mod pages;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
