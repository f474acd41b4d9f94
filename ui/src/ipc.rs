//! The one place the UI crosses into the shell: `window.__TAURI__.core.invoke`, with the
//! protocol crate's request and response types. Errors arrive as `{code, message}`.

use gridmint_protocol::{ApiError, ErrorCode, HardwareReport, HardwareReportRequest, commands};
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;
}

#[derive(Serialize)]
struct Args<'a, T> {
    request: &'a T,
}

async fn invoke<Req: Serialize, Resp: DeserializeOwned>(cmd: &str, request: &Req) -> Result<Resp, ApiError> {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    let args = Args { request }
        .serialize(&serializer)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("could not encode the {cmd} request: {e}")))?;
    match tauri_invoke(cmd, args).await {
        Ok(value) => serde_wasm_bindgen::from_value(value)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("unexpected {cmd} response: {e}"))),
        Err(value) => Err(serde_wasm_bindgen::from_value::<ApiError>(value.clone()).unwrap_or_else(|_| {
            let text = value.as_string().unwrap_or_else(|| format!("{value:?}"));
            ApiError::new(ErrorCode::Internal, format!("{cmd} failed: {text}"))
        })),
    }
}

pub async fn hardware_report(refresh: bool) -> Result<HardwareReport, ApiError> {
    invoke(commands::HARDWARE_REPORT, &HardwareReportRequest { refresh }).await
}
