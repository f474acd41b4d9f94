// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Committed, JobParams, Revealed, Terms, Trail} from "../../src/libraries/Types.sol";

/// @notice The tests' copy of every job's trail, kept the way an off-chain client rebuilds it
/// from the events: terms at posting, then each claimant, commitment and reveal as it lands.
/// Helpers record an entry only after the call that made it succeeded.
abstract contract TrailBook {
    mapping(uint256 => Trail) internal _book;

    function bookPost(uint256 jobId, JobParams memory p) internal {
        _book[jobId].terms = Terms({
            requirements: p.requirements,
            pricePerUnit: p.pricePerUnit,
            maxWorkUnits: p.maxWorkUnits,
            commitDeadline: p.commitDeadline,
            revealDeadline: p.revealDeadline
        });
    }

    function bookClaim(uint256 jobId, address provider, uint128 weight) internal {
        _book[jobId].claimants.push(provider);
        _book[jobId].weights.push(weight);
    }

    /// What a replica is paid for `units` at `price` (millionths of a base unit per work unit),
    /// rounded up to a whole base unit, as `Settlement._payFor`.
    function payFor(uint256 price, uint256 units) internal pure returns (uint256) {
        return (price * units + 1e6 - 1) / 1e6;
    }

    function bookCommit(uint256 jobId, uint256 index, bytes32 commitment) internal {
        _book[jobId].commits.push(Committed({index: index, commitment: commitment}));
    }

    function bookReveal(uint256 jobId, uint256 index, bytes32 root, uint64 workUnits) internal {
        _book[jobId].reveals.push(Revealed({index: index, resultRoot: root, workUnits: workUnits}));
    }

    function trail(uint256 jobId) internal view returns (Trail memory) {
        return _book[jobId];
    }

    function termsOf(uint256 jobId) internal view returns (Terms memory) {
        return _book[jobId].terms;
    }

    /// The claimant at `index`, or zero.
    function claimantAt(uint256 jobId, uint256 index) internal view returns (address) {
        address[] storage c = _book[jobId].claimants;
        return index < c.length ? c[index] : address(0);
    }

    /// The commitment of claimant `index`, or zero if it has none.
    function commitmentAt(uint256 jobId, uint256 index) internal view returns (bytes32) {
        Committed[] storage c = _book[jobId].commits;
        for (uint256 i; i < c.length; ++i) {
            if (c[i].index == index) return c[i].commitment;
        }
        return bytes32(0);
    }

    function revealedAt(uint256 jobId, uint256 index) internal view returns (bool) {
        Revealed[] storage r = _book[jobId].reveals;
        for (uint256 i; i < r.length; ++i) {
            if (r[i].index == index) return true;
        }
        return false;
    }

    function commitCount(uint256 jobId) internal view returns (uint256) {
        return _book[jobId].commits.length;
    }

    function revealCount(uint256 jobId) internal view returns (uint256) {
        return _book[jobId].reveals.length;
    }
}
