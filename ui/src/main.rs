//! Gridmint's desktop UI. Runs inside the Tauri webview; talks to the node only through [`ipc`].

mod app;
mod ipc;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
