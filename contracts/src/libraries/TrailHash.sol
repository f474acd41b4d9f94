// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Revealed, Terms, Trail} from "./Types.sol";

/// @title TrailHash
/// @notice The one definition of a job's trail hash (see `Trail` in Types.sol): the job's id and
/// terms, then one link per claimant, per commitment and per reveal, in the order of their events.
/// Every place the market extends or checks a trail calls these; the Rust client mirrors them in
/// `gridmint_chain::trail`.
library TrailHash {
    /// @notice The trail of a job just posted.
    function start(uint256 jobId, Terms memory terms) internal pure returns (bytes32) {
        return keccak256(abi.encode(jobId, terms));
    }

    function startCalldata(uint256 jobId, Terms calldata terms) internal pure returns (bytes32) {
        return keccak256(abi.encode(jobId, terms));
    }

    /// @notice `h` extended by a claim and the claimant's selection weight.
    function claimed(bytes32 h, address claimant, uint128 weight) internal pure returns (bytes32) {
        return keccak256(abi.encode(h, claimant, weight));
    }

    /// @notice `h` extended by claimant `index`'s commitment.
    function committed(bytes32 h, uint256 index, bytes32 commitment) internal pure returns (bytes32) {
        return keccak256(abi.encode(h, index, commitment));
    }

    /// @notice `h` extended by claimant `index`'s reveal.
    function revealed(bytes32 h, uint256 index, bytes32 resultRoot, uint64 workUnits) internal pure returns (bytes32) {
        return keccak256(abi.encode(h, index, resultRoot, workUnits));
    }

    /// @notice The hash of a whole trail: what the job's trail hash is if `t` is its history.
    function ofTrail(uint256 jobId, Trail calldata t) internal pure returns (bytes32 h) {
        h = startCalldata(jobId, t.terms);
        for (uint256 i; i < t.claimants.length; ++i) {
            h = claimed(h, t.claimants[i], t.weights[i]);
        }
        for (uint256 i; i < t.commits.length; ++i) {
            h = committed(h, t.commits[i].index, t.commits[i].commitment);
        }
        for (uint256 i; i < t.reveals.length; ++i) {
            Revealed calldata r = t.reveals[i];
            h = revealed(h, r.index, r.resultRoot, r.workUnits);
        }
    }
}
