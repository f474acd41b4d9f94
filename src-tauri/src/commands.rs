//! Command adapters: a few lines each, over the node API.

use gridmint_protocol::{ApiError, ErrorCode, HardwareReport, HardwareReportRequest};
use tauri::State;

use crate::AppState;

#[tauri::command]
pub(crate) async fn hardware_report(
    state: State<'_, AppState>,
    request: HardwareReportRequest,
) -> Result<HardwareReport, ApiError> {
    if !request.refresh {
        if let Some(report) = state.hardware.lock().map_err(poisoned)?.clone() {
            return Ok(report);
        }
    }
    let node = state.node.clone();
    // Enumeration loads the Vulkan driver: keep it off the async runtime's threads.
    let report = tauri::async_runtime::spawn_blocking(move || node.hardware_report())
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("device enumeration stopped: {e}")))?
        .map_err(|e| e.to_api())?;
    *state.hardware.lock().map_err(poisoned)? = Some(report.clone());
    Ok(report)
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> ApiError {
    ApiError::new(ErrorCode::Internal, "the app's state lock was poisoned by an earlier failure")
}
