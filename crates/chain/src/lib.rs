//! Gridmint's EVM side: alloy bindings generated with `sol!` from the compiled contracts
//! (`contracts/out`), a market client generic over the alloy provider, typed revert decoding,
//! and deployment files.

pub mod bindings;
pub mod code;
pub mod court;
pub mod deployment;
pub mod device_check;
pub mod error;
pub mod market;
pub mod state;
pub mod trail;

pub use deployment::Deployment;
pub use error::ChainError;
pub use market::{JobView, Market, commit_digest, commitment, sign_commit};
pub use state::JobState;
