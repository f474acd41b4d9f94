//! Gridmint's peer-to-peer layer: job data and results between nodes, content-addressed and
//! sealed to their one reader. Knows the chain only through the narrow [`Ledger`] a node hands
//! it (its wallet, the market, a job's posting and claimants); nothing of devices, prices, the
//! store or the desktop.
//!
//! Module map:
//! - [`endpoint`]: the iroh endpoint ([`Peer`]), the job-data protocol (signed requests for a
//!   job's data, offers of results, relayed commitments) and the buyer's checks of what arrives;
//! - [`exchange`]: the node's content-addressed blob store, deterministic bundles of a folder's
//!   files, the result root of files in memory, and the one check of a file name from a peer;
//! - [`seal`]: bytes only the holder of one secp256k1 key can open;
//! - [`error`]: the errors ([`PeerError`]).

pub mod endpoint;
pub mod error;
pub mod exchange;
pub mod seal;

pub use endpoint::{CheckFailed, Domain, JOB_ALPN, Ledger, Peer, Relayed, ResultCheck, SpotOutcome, endpoint_key};
pub use error::PeerError;

/// The guard of `m`, also after a thread panicked holding it (every value kept under these locks
/// stays valid between statements).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
