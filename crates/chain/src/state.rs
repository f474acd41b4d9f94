//! The job's state as the contract keeps it (`JobState` in `contracts/src/libraries/Types.sol`),
//! decoded once, here, from the discriminant the bindings give.

use std::fmt;

use crate::{ChainError, bindings::Gridmint};

/// Where a job is in its life on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum JobState {
    /// No such job.
    None = 0,
    /// Posted: claims are taken until the claim deadline.
    Open = 1,
    /// Replicas selected: commitments, then reveals.
    Running = 2,
    /// A result was challenged; waiting for a ruling.
    Disputed = 3,
    /// Settled by agreement: the majority's result is paid.
    Finalized = 4,
    /// Nobody delivered in time: the escrow went back to the buyer.
    Refunded = 5,
    /// Settled by a ruling on a dispute.
    Resolved = 6,
}

impl JobState {
    /// Its name, as the CLI and the app show it.
    pub fn name(self) -> &'static str {
        match self {
            JobState::None => "none",
            JobState::Open => "open",
            JobState::Running => "running",
            JobState::Disputed => "disputed",
            JobState::Finalized => "finalized",
            JobState::Refunded => "refunded",
            JobState::Resolved => "resolved",
        }
    }

    /// Providers still work on it (claims, commitments, reveals).
    pub fn in_progress(self) -> bool {
        matches!(self, JobState::Open | JobState::Running)
    }

    /// Not ended: in progress or disputed.
    pub fn unsettled(self) -> bool {
        self.in_progress() || self == JobState::Disputed
    }

    /// Ended with a result the market paid for.
    pub fn settled_with_result(self) -> bool {
        matches!(self, JobState::Finalized | JobState::Resolved)
    }
}

impl TryFrom<u8> for JobState {
    type Error = ChainError;

    fn try_from(value: u8) -> Result<Self, ChainError> {
        Ok(match value {
            0 => JobState::None,
            1 => JobState::Open,
            2 => JobState::Running,
            3 => JobState::Disputed,
            4 => JobState::Finalized,
            5 => JobState::Refunded,
            6 => JobState::Resolved,
            other => {
                return Err(ChainError::InvalidInput {
                    what: "job state",
                    message: format!("the market returned state {other}, which this client does not know"),
                });
            }
        })
    }
}

impl From<JobState> for u8 {
    fn from(state: JobState) -> u8 {
        state as u8
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Gridmint::Job {
    /// The slot's state, decoded.
    pub fn job_state(&self) -> Result<JobState, ChainError> {
        JobState::try_from(self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::JobState;

    #[test]
    fn every_discriminant_round_trips_and_an_unknown_one_is_an_error() {
        for v in 0u8..=6 {
            let state = JobState::try_from(v).expect("known");
            assert_eq!(u8::from(state), v);
        }
        assert_eq!(JobState::Running.to_string(), "running");
        let err = JobState::try_from(7).expect_err("unknown");
        assert!(err.to_string().contains("state 7"), "{err}");
        assert!(JobState::Open.in_progress() && !JobState::Disputed.in_progress());
        assert!(JobState::Disputed.unsettled() && !JobState::Refunded.unsettled());
    }
}
