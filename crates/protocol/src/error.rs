//! The one error shape on the wire: `{code, message}`.

use serde::{Deserialize, Serialize};

/// What the UI can branch on. Add a code only when a caller must act differently on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No Vulkan loader or no Vulkan driver on this machine. The message names the fix.
    NoVulkan,
    /// The request was malformed or named something that does not exist.
    InvalidInput,
    /// The network is not ready yet (starting) or could not start; the message says which.
    NetworkUnavailable,
    /// The OS keyring (Secret Service) is missing or refused; the message names the fix.
    Keyring,
    /// Anything else; the message and the log say what.
    Internal,
}

/// An error as the UI and `--json` consumers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}
