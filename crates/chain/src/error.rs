use crate::bindings::Gridmint::GridmintErrors;

/// Errors of the chain client. A revert by the market is decoded into its custom error.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("{call} reverted: {reason:?}")]
    Reverted { call: &'static str, reason: Box<GridmintErrors> },
    #[error("{call} failed: {source}")]
    Contract {
        call: &'static str,
        #[source]
        source: Box<alloy::contract::Error>,
    },
    #[error("{call}: the transaction {tx} was mined but failed")]
    Failed { call: &'static str, tx: alloy::primitives::TxHash },
    #[error("{call}: waiting for the receipt failed: {message}")]
    Receipt { call: &'static str, message: String },
    #[error("{call}: the receipt has no {event} event")]
    MissingEvent { call: &'static str, event: &'static str },
    #[error("{what}: {message}")]
    InvalidInput { what: &'static str, message: String },
    #[error("deployment file {path}: {message}")]
    Deployment { path: std::path::PathBuf, message: String },
}

impl ChainError {
    /// Decodes a contract error into the market's custom error where it is one.
    pub fn from_contract(call: &'static str, source: alloy::contract::Error) -> Self {
        match source.as_decoded_interface_error::<GridmintErrors>() {
            Some(reason) => ChainError::Reverted { call, reason: Box::new(reason) },
            None => ChainError::Contract { call, source: Box::new(source) },
        }
    }

    /// The market's custom error, when the call reverted with one.
    pub fn revert_reason(&self) -> Option<&GridmintErrors> {
        match self {
            ChainError::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }
}
