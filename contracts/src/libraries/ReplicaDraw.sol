// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ReplicaDraw
/// @notice How a job's replicas are drawn from its eligible claimants, and what a claim weighs.
library ReplicaDraw {
    /// @dev A claim's stake counts up to this share of all registered stake (basis points): no
    /// single provider's stake weighs more than a tenth of the market's, however much it holds.
    uint256 internal constant STAKE_CAP_BPS = 1_000;

    /// @dev Agreements counted in a claim's weight, at most (they can be bought with jobs posted to
    /// oneself: they must not outweigh stake).
    uint256 internal constant MAX_AGREEMENTS = 8;

    /// @dev A claim's weight in the draw of the replicas:
    ///
    ///     weight = min(stake, totalStake / 10) × (8 + min(agreed, 8)) / (8 + 4·slashed + 2·missed + left)
    ///
    /// The stake, capped at a tenth of all registered stake; raised up to twice over by a record
    /// of agreements; lowered by its offences as `reputationScore` grades them (a slash four, a
    /// missed deadline two, a job left one): one slash takes a new provider to 2/3 of its stake's
    /// weight, three to 2/5.
    function claimWeight(
        uint256 stake,
        uint256 totalStake,
        uint256 agreed,
        uint256 slashed,
        uint256 missed,
        uint256 left
    ) internal pure returns (uint128) {
        uint256 cap = (totalStake * STAKE_CAP_BPS) / 10_000;
        uint256 counted = stake < cap ? stake : cap;
        uint256 bonus = agreed < MAX_AGREEMENTS ? agreed : MAX_AGREEMENTS;
        uint256 demerits = 4 * slashed + 2 * missed + left;
        return uint128((counted * (8 + bonus)) / (8 + demerits));
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
