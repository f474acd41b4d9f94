use std::path::PathBuf;

/// Errors of the peer-to-peer layer: an exchange refused or failed, the endpoint unavailable, the
/// node's own store.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// A request, transfer or bundle that failed or was refused; the message names the job.
    #[error("job data: {message}")]
    Exchange { message: String },
    /// A blob or bundle from a peer over its limit, or a store over its quota.
    #[error("too big: {message}")]
    TooBig { message: String },
    #[error("the network is not available: {message}")]
    NetworkUnavailable { message: String },
    /// The chain's word on a job could not be read ([`crate::Ledger`]).
    #[error("the chain: {message}")]
    Ledger { message: String },
    #[error(transparent)]
    Chain(#[from] gridmint_chain::ChainError),
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}
