use gridmint_protocol::{ApiError, ErrorCode};

/// Errors of the node API.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Engine(#[from] gpu_engine::EngineError),
    #[error(transparent)]
    Job(#[from] gridmint_runner::JobError),
    #[error(transparent)]
    Wallet(#[from] crate::wallet::WalletError),
    #[error(transparent)]
    Chain(#[from] gridmint_chain::ChainError),
    #[error("anvil ({binary}) could not start: {message}; `make setup` installs it, or pass --anvil PATH")]
    Anvil { binary: std::path::PathBuf, message: String },
    #[error("network profile {path}: {message}")]
    Profile { path: std::path::PathBuf, message: String },
    #[error("job data: {message}")]
    Exchange { message: String },
    /// A juror could not get the job's data from the buyer.
    #[error("job {job}: the buyer did not give this juror the job's data: {message}")]
    DataWithheld { job: String, message: String },
    /// A replica did not get its job's data in time: the buyer answered no, or not at all, or too
    /// late, or this node's store had no room for it.
    #[error("job {job}'s data: {message}")]
    DataUnavailable { job: String, message: String },
    #[error("node state: {message}")]
    Store { message: String },
    #[error("market: {message}")]
    Market { message: String },
    #[error(
        "network {network}: the market at {market} runs code that is not a Gridmint build this app knows \
         (fingerprint {fingerprint}); payments would be approved to it. If you trust it, run \
         `gridmint network trust --network {profile} --fingerprint {fingerprint}`"
    )]
    UntrustedMarket {
        network: String,
        market: alloy::primitives::Address,
        fingerprint: alloy::primitives::B256,
        profile: std::path::PathBuf,
    },
    #[error("the network is not available: {message}")]
    NetworkUnavailable { message: String },
    #[error("{message}")]
    InvalidRequest { message: String },
    #[error("device worker: {message}")]
    Worker { message: String },
    #[error("idle detection: {message}")]
    IdleDetection { message: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: std::path::PathBuf, source: std::io::Error },
}

impl From<gridmint_runner::RunnerError> for NodeError {
    fn from(e: gridmint_runner::RunnerError) -> Self {
        use gridmint_runner::RunnerError as R;
        match e {
            R::Engine(e) => NodeError::Engine(e),
            R::Job(e) => NodeError::Job(e),
            R::Worker { message } => NodeError::Worker { message },
            R::IdleDetection { message } => NodeError::IdleDetection { message },
            R::Io { what, path, source } => NodeError::Io { what, path, source },
            R::InvalidRequest { message } => NodeError::InvalidRequest { message },
        }
    }
}

impl From<gridmint_peer::PeerError> for NodeError {
    fn from(e: gridmint_peer::PeerError) -> Self {
        use gridmint_peer::PeerError as P;
        match e {
            P::Exchange { message } | P::Ledger { message } | P::TooBig { message } => NodeError::Exchange { message },
            P::NetworkUnavailable { message } => NodeError::NetworkUnavailable { message },
            P::Chain(e) => NodeError::Chain(e),
            P::Io { what, path, source } => NodeError::Io { what, path, source },
        }
    }
}

impl From<gridmint_home::HomeError> for NodeError {
    fn from(e: gridmint_home::HomeError) -> Self {
        match e {
            gridmint_home::HomeError::InvalidRequest { message } => NodeError::InvalidRequest { message },
            gridmint_home::HomeError::Io { what, path, source } => NodeError::Io { what, path, source },
        }
    }
}

impl NodeError {
    /// The wire form: what the UI shows and `--json` prints.
    pub fn to_api(&self) -> ApiError {
        use gpu_engine::EngineError as E;
        let code = match self {
            NodeError::Engine(E::NoLoader(_) | E::NoDevice) => ErrorCode::NoVulkan,
            NodeError::Engine(E::UnknownDevice { .. } | E::Shape { .. } | E::OverMemoryLimit { .. }) => {
                ErrorCode::InvalidInput
            }
            NodeError::Job(e) if e.is_input_error() => ErrorCode::InvalidInput,
            NodeError::InvalidRequest { .. } => ErrorCode::InvalidInput,
            NodeError::Wallet(crate::wallet::WalletError::Keyring { .. }) => ErrorCode::Keyring,
            NodeError::Wallet(_) => ErrorCode::InvalidInput,
            NodeError::NetworkUnavailable { .. } | NodeError::UntrustedMarket { .. } => ErrorCode::NetworkUnavailable,
            _ => ErrorCode::Internal,
        };
        ApiError::new(code, self.to_string())
    }
}
