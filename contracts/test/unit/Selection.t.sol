// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {ReplicaDraw} from "../../src/libraries/ReplicaDraw.sol";

/// @notice Issue #23 point 3: what a claim weighs in the draw of a job's replicas (stake capped at
/// a tenth of all stake, agreements, offences) and that the draw follows the weights. Counted
/// over fixed seeds: the counts are the same on every run.
contract SelectionTest is Fixture {
    uint256 internal constant DRAWS = 10_000;
    bytes32 internal constant ROOT = keccak256("the right result");
    bytes32 internal constant BAD = keccak256("a corrupted result");

    function capped(uint256 stake, uint256 total) internal pure returns (uint256) {
        return stake < total / 10 ? stake : total / 10;
    }

    function test_claimWeight_isTheCappedStakeRaisedByAgreementsLoweredByOffences() public pure {
        uint256 total = 100e18;
        assertEq(ReplicaDraw.claimWeight(5e18, total, 0, 0, 0, 0), 5e18, "a new provider: its stake");
        assertEq(ReplicaDraw.claimWeight(50e18, total, 0, 0, 0, 0), 10e18, "capped at a tenth of all stake");
        assertEq(ReplicaDraw.claimWeight(5e18, total, 4, 0, 0, 0), 7.5e18, "4 agreements: half again");
        assertEq(ReplicaDraw.claimWeight(5e18, total, 8, 0, 0, 0), 10e18, "8 agreements: twice");
        assertEq(ReplicaDraw.claimWeight(5e18, total, 1_000, 0, 0, 0), 10e18, "never more than twice");
        assertEq(ReplicaDraw.claimWeight(6e18, total, 0, 1, 0, 0), 4e18, "a slash: two thirds");
        assertEq(ReplicaDraw.claimWeight(6e18, total, 0, 0, 1, 0), 4.8e18, "a missed deadline: four fifths");
        assertEq(ReplicaDraw.claimWeight(9e18, total, 0, 0, 0, 1), 8e18, "a job left: eight ninths");
        assertEq(ReplicaDraw.claimWeight(6e18, total, 8, 1, 0, 0), 8e18, "8 agreements and a slash: 16/12");
    }

    /// A provider holding 90% of all stake weighs a tenth of it in a claim; a slashed provider
    /// weighs less than its remaining stake; the weight the market fixes at the claim is the
    /// view's (the fixture books `claimWeightOf` and the market checks the booked trail at every
    /// later call, so a difference reverts `TrailMismatch`).
    function test_attack_aWhaleWeighsATenthOfAllStakeAndASlashedProviderLess() public {
        registerAll(3);
        vm.prank(providers[3]);
        market.register(keccak256("whale"), 81_559, CU, 3, 0xff, 9 * STAKE, address(0));
        uint256 total = 12 * uint256(STAKE);
        assertEq(market.claimWeightOf(providers[3]), total / 10, "the whale: a tenth of all stake");
        assertEq(market.claimWeightOf(providers[0]), STAKE, "a provider with a twelfth: its stake");
        bytes32[] memory roots = same(3, ROOT);
        roots[2] = BAD;
        runJob(3, roots, 500);
        uint256 stake = market.providerOf(providers[2]).stake;
        total = total - (uint256(STAKE) - stake);
        assertEq(market.claimWeightOf(providers[2]), (capped(stake, total) * 8) / 12, "slashed once: two thirds");
        assertEq(market.claimWeightOf(providers[0]), (capped(STAKE, total) * 9) / 8, "one agreement: an eighth more");
        // The next job's claims carry these weights; the draw runs on them (trail checked).
        runJob(3, same(3, ROOT), 500);
    }

    /// Over 10,000 draws of one replica among ten claimants of very different standing, each
    /// claimant is picked within 2 percentage points of its share of the weight (the target of
    /// `make bench-market`'s `selection_share_error`); 4 standard deviations of the largest share
    /// are under 1.7 points.
    function test_selectionShare_followsTheWeightShare_over10000Draws() public {
        uint256 all = 1_000e18;
        uint256[] memory w = new uint256[](10);
        w[0] = ReplicaDraw.claimWeight(600e18, all, 0, 0, 0, 0); // a whale, capped at 100e18
        w[1] = ReplicaDraw.claimWeight(90e18, all, 8, 0, 0, 0); // a veteran: 180e18
        w[2] = ReplicaDraw.claimWeight(60e18, all, 3, 1, 0, 0); // 55e18
        w[3] = ReplicaDraw.claimWeight(50e18, all, 0, 0, 2, 0); // 33.3e18
        w[4] = ReplicaDraw.claimWeight(40e18, all, 8, 3, 1, 2); // 80e18 * ... / 30
        w[5] = ReplicaDraw.claimWeight(30e18, all, 1, 0, 0, 0);
        w[6] = ReplicaDraw.claimWeight(20e18, all, 0, 0, 0, 0);
        w[7] = ReplicaDraw.claimWeight(10e18, all, 0, 0, 0, 0);
        w[8] = ReplicaDraw.claimWeight(100e18, all, 2, 0, 0, 1);
        w[9] = ReplicaDraw.claimWeight(1e18, all, 0, 0, 0, 0);
        uint256 total;
        for (uint256 i; i < w.length; ++i) total += w[i];
        uint256[] memory hits = new uint256[](w.length);
        for (uint256 d; d < DRAWS; ++d) {
            uint32 mask = ReplicaDraw.pick(w, total, 1, uint256(keccak256(abi.encode("replica draw", d))));
            uint256 i;
            while ((mask >> i) & 1 == 0) ++i;
            assertEq(mask, uint32(1 << i), "one replica drawn");
            hits[i] += 1;
        }
        uint256 worst; // basis points of the draws
        for (uint256 i; i < w.length; ++i) {
            uint256 expected = (w[i] * DRAWS) / total;
            uint256 off = hits[i] > expected ? hits[i] - expected : expected - hits[i];
            if (off > worst) worst = off;
        }
        assertLe(worst, 200, "every claimant within 2 points of its weight share");
        string memory out = vm.envOr("GRIDMINT_BENCH_SELECTION", string(""));
        if (bytes(out).length != 0) {
            vm.writeFile(
                out,
                string.concat(
                    '{"draws":', vm.toString(DRAWS), ',"claimants":', vm.toString(w.length),
                    ',"selection_share_error_bps":', vm.toString(worst), "}"
                )
            );
        }
    }

    /// A draw of k replicas picks k distinct claimants, never one of weight 0 (not eligible), and
    /// all of them when fewer than k have weight.
    function test_pick_drawsDistinctEligibleClaimants() public pure {
        uint256[] memory w = new uint256[](6);
        w[0] = 5;
        w[2] = 1;
        w[3] = 7;
        w[5] = 2;
        for (uint256 d; d < 200; ++d) {
            uint32 mask = ReplicaDraw.pick(w, 15, 3, d);
            assertEq(mask & 0x12, 0, "weight 0 is never drawn");
            uint256 n;
            for (uint256 i; i < 6; ++i) n += (mask >> i) & 1;
            assertEq(n, 3, "three distinct replicas");
        }
        assertEq(ReplicaDraw.pick(w, 15, 6, 1), 0x2d, "k over the eligible: all of them");
    }
}
