//! A job's trail hash, as the market computes it (`contracts/src/libraries/TrailHash.sol`, the
//! one definition on chain): `keccak256(abi.encode(jobId, terms))`, then one link per claimant
//! `(hash, address)`, per commitment `(hash, index, commitment)` and per reveal
//! `(hash, index, root, workUnits)`. A client checks the trail it rebuilt from the events
//! against the market's `trailOf` before it spends gas on a call that carries it.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::SolValue,
};

use crate::bindings::Gridmint::{Terms, Trail};

/// The trail of a job just posted.
pub fn start(job_id: U256, terms: &Terms) -> B256 {
    keccak256((job_id, terms.clone()).abi_encode_params())
}

/// `h` extended by a claim and the claimant's selection weight.
pub fn claimed(h: B256, claimant: Address, weight: u128) -> B256 {
    keccak256((h, claimant, weight).abi_encode_params())
}

/// `h` extended by claimant `index`'s commitment.
pub fn committed(h: B256, index: U256, commitment: B256) -> B256 {
    keccak256((h, index, commitment).abi_encode_params())
}

/// `h` extended by claimant `index`'s reveal.
pub fn revealed(h: B256, index: U256, result_root: B256, work_units: u64) -> B256 {
    keccak256((h, index, result_root, work_units).abi_encode_params())
}

/// The hash of a whole trail: what the job's trail hash is if `t` is its history.
pub fn hash(job_id: U256, t: &Trail) -> B256 {
    let mut h = start(job_id, &t.terms);
    for (claimant, weight) in t.claimants.iter().zip(&t.weights) {
        h = claimed(h, *claimant, *weight);
    }
    for c in &t.commits {
        h = committed(h, c.index, c.commitment);
    }
    for r in &t.reveals {
        h = revealed(h, r.index, r.resultRoot, r.workUnits);
    }
    h
}
