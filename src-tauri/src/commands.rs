//! The window's own command: the desktop's file dialog. Every other command is the agent's.

use gridmint_protocol::{ApiError, Command, ErrorCode, commands};

/// The request and response of the window's one command, as the protocol's table declares them.
type PickPathRequest = <commands::PickPath as Command>::Request;
type PickedPath = <commands::PickPath as Command>::Response;

/// The desktop's own file dialog, for a package or a results folder.
#[tauri::command]
pub(crate) async fn pick_path(app: tauri::AppHandle, request: PickPathRequest) -> Result<PickedPath, ApiError> {
    use gridmint_protocol::PickKind;
    use tauri_plugin_dialog::DialogExt as _;
    // The dialog blocks until the owner answers: off the runtime's threads.
    tauri::async_runtime::spawn_blocking(move || {
        let dialog = app.dialog().file();
        let picked = match request.kind {
            PickKind::PackageFolder => dialog.set_title("Choose a job folder").blocking_pick_folder(),
            PickKind::PackageZip => {
                dialog.set_title("Choose a job .zip").add_filter("Job package", &["zip"]).blocking_pick_file()
            }
            PickKind::ResultsFolder => dialog.set_title("Where should the results go?").blocking_pick_folder(),
        };
        let path = picked
            .map(|p| p.into_path())
            .transpose()
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the dialog returned no local path: {e}")))?;
        Ok(gridmint_protocol::PickedPath { path: path.map(|p| p.display().to_string()) })
    })
    .await
    .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the file dialog stopped: {e}")))?
}
