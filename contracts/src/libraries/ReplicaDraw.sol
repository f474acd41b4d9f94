// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ReplicaDraw
/// @notice How a job's replicas are drawn from its eligible claimants, and what a claim weighs.
library ReplicaDraw {
    /// @dev A claim's stake counts up to this many times the minimum its registered compute
    /// needs: stake beyond what a provider's hardware warrants buys no more work.
    uint256 internal constant STAKE_CAP_MULTIPLE = 4;

    /// @dev Agreements counted in a claim's weight, at most (they can be bought with jobs posted to
    /// oneself: they must not outweigh stake).
    uint256 internal constant MAX_AGREEMENTS = 8;

    /// @dev A claim's weight in the draw of the replicas:
    ///
    ///     weight = min(stake, 4 × minStake) × (8 + min(agreed, 8)) / (8 + 4 × slashes)
    ///
    /// where `minStake` is what the provider's registered compute units require. The stake,
    /// capped at four times that minimum; raised up to twice over by a record of agreements;
    /// lowered by the slashes it took (a wrong result, a lost court game, an unfit claim, a
    /// juror's vote against the majority): one slash takes a new provider to 2/3 of its stake's
    /// weight, three to 2/5. Missed deadlines and jobs left count in `reputationScore` only: a
    /// buyer can cause them (data never served).
    function claimWeight(uint256 stake, uint256 minStake, uint256 agreed, uint256 slashes)
        internal
        pure
        returns (uint128)
    {
        // No overflow: the cap is taken only when it is at most the stake, and the callers pass a
        // uint96 stake, a uint24 agreement count and a uint8 slash count (checked arithmetic cost
        // every claim about 150 gas).
        unchecked {
            uint256 counted = stake / STAKE_CAP_MULTIPLE < minStake ? stake : STAKE_CAP_MULTIPLE * minStake;
            uint256 bonus = agreed < MAX_AGREEMENTS ? agreed : MAX_AGREEMENTS;
            return uint128((counted * (8 + bonus)) / (8 + 4 * slashes));
        }
    }

    /// @dev Draws `k` of the entries whose `weights` are not 0, one after another without
    /// replacement, each with probability its weight over the weight not yet drawn (`total`: the
    /// sum of `weights`), from `seed`; returns the bit mask of the drawn indices. Each draw's
    /// first pick takes entry i with probability `weights[i] / total` exactly (up to the modulo
    /// bias of a 256-bit hash, below 2^-128 for totals under 2^128).
    function pick(uint256[] memory weights, uint256 total, uint256 k, uint256 seed) internal pure returns (uint32 mask) {
        uint256 n = weights.length;
        for (uint256 picked; picked < k && total != 0; ++picked) {
            uint256 x = uint256(keccak256(abi.encode(seed, picked))) % total;
            for (uint256 i; i < n; ++i) {
                if ((mask >> i) & 1 == 1 || weights[i] == 0) continue;
                if (x < weights[i]) {
                    mask |= uint32(1 << i);
                    total -= weights[i];
                    break;
                }
                x -= weights[i];
            }
        }
    }
}
