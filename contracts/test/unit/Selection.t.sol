// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {ReplicaDraw} from "../../src/libraries/ReplicaDraw.sol";

/// @notice Issue #23 point 3: what a claim weighs in the draw of a job's replicas (stake capped at
/// four times what the provider's compute requires, agreements, slashes) and that the draw
/// follows the weights. Counted
/// over fixed seeds: the counts are the same on every run.
contract SelectionTest is Fixture {
    uint256 internal constant DRAWS = 10_000;
    bytes32 internal constant ROOT = keccak256("the right result");
    bytes32 internal constant BAD = keccak256("a corrupted result");

    function test_claimWeight_isTheCappedStakeRaisedByAgreementsLoweredBySlashes() public pure {
        uint256 min = 10e18; // what its compute units require
        assertEq(ReplicaDraw.claimWeight(25e18, min, 0, 0), 25e18, "a new provider: its stake");
        assertEq(ReplicaDraw.claimWeight(500e18, min, 0, 0), 40e18, "capped at four times its minimum");
        assertEq(ReplicaDraw.claimWeight(20e18, min, 4, 0), 30e18, "4 agreements: half again");
        assertEq(ReplicaDraw.claimWeight(20e18, min, 8, 0), 40e18, "8 agreements: twice");
        assertEq(ReplicaDraw.claimWeight(20e18, min, 1_000, 0), 40e18, "never more than twice");
        assertEq(ReplicaDraw.claimWeight(24e18, min, 0, 1), 16e18, "a slash: two thirds");
        assertEq(ReplicaDraw.claimWeight(25e18, min, 0, 3), 10e18, "three slashes: two fifths");
        assertEq(ReplicaDraw.claimWeight(24e18, min, 8, 1), 32e18, "8 agreements and a slash: 16/12");
        assertEq(ReplicaDraw.claimWeight(24e18, min, 8, 255), uint256(24e18 * 16) / 1_028, "255 slashes (the count saturates)");
    }

    /// A provider staking nine times its equals weighs what a stake of four times its minimum
    /// does: stake beyond what its compute warrants buys no more work. A slashed provider weighs
    /// less than its remaining stake; one with an agreement more. The weight the market fixes at
    /// the claim is the view's (the fixture books `claimWeightOf`, and the market checks the
    /// booked trail at every later call: a difference reverts `TrailMismatch`).
    function test_attack_aWhalesStakeBeyondItsComputeBuysNoMoreWeight() public {
        registerAll(3);
        vm.prank(providers[3]);
        market.register(keccak256("whale"), 81_559, CU, 3, 0xff, 9 * STAKE, address(0));
        uint256 cap = 4 * MIN_STAKE_PER_UNIT * CU;
        assertEq(market.claimWeightOf(providers[3]), cap, "the whale: four times its minimum");
        assertEq(market.claimWeightOf(providers[0]), cap, "its equals, at ten times theirs: the same");
        bytes32[] memory roots = same(3, ROOT);
        roots[2] = BAD;
        runJob(3, roots, 500);
        assertEq(market.providerOf(providers[2]).slashes, 1, "the slash counted in the slot");
        assertEq(market.claimWeightOf(providers[2]), (cap * 8) / 12, "slashed once: two thirds");
        assertEq(market.claimWeightOf(providers[0]), (cap * 9) / 8, "one agreement: an eighth more");
        // The next job's claims carry these weights; the draw runs on them (trail checked).
        runJob(3, same(3, ROOT), 500);
    }

    /// A buyer that never serves its data makes the replicas leave (or miss the deadline, if
    /// they do not leave): that must not cost them weight in later draws, or any buyer could
    /// lower its rivals' providers for the gas of posting. Leaving counts in the reputation only.
    function test_attack_aBuyerCannotLowerAReplicasWeightByMakingItLeave() public {
        registerAll(3);
        uint128 before = market.claimWeightOf(providers[0]);
        uint256 jobId = post(1);
        claimAs(jobId, providers[0]);
        vm.warp(vm.getBlockTimestamp() + 11);
        market.selectReplicas(jobId, trail(jobId));
        vm.prank(providers[0]);
        market.leaveJob(jobId, 0, trail(jobId));
        assertEq(market.reputationOf(providers[0]).left, 1, "left, in the reputation");
        assertEq(market.claimWeightOf(providers[0]), before, "the same weight");
    }

    /// Over 10,000 draws of one replica among ten claimants of very different standing, each
    /// claimant is picked within 2 percentage points of its share of the weight (the target of
    /// `make bench-market`'s `selection_share_error`); 4 standard deviations of the largest share
    /// are under 1.7 points.
    function test_selectionShare_followsTheWeightShare_over10000Draws() public {
        uint256[] memory w = new uint256[](10);
        w[0] = ReplicaDraw.claimWeight(600e18, 100e18, 0, 0); // a whale, capped at 400e18
        w[1] = ReplicaDraw.claimWeight(90e18, 50e18, 8, 0); // a veteran: 180e18
        w[2] = ReplicaDraw.claimWeight(60e18, 20e18, 3, 1); // 55e18
        w[3] = ReplicaDraw.claimWeight(50e18, 20e18, 0, 2); // 25e18
        w[4] = ReplicaDraw.claimWeight(40e18, 10e18, 8, 3); // 40e18
        w[5] = ReplicaDraw.claimWeight(30e18, 10e18, 1, 0);
        w[6] = ReplicaDraw.claimWeight(20e18, 10e18, 0, 0);
        w[7] = ReplicaDraw.claimWeight(10e18, 10e18, 0, 0);
        w[8] = ReplicaDraw.claimWeight(100e18, 30e18, 2, 0);
        w[9] = ReplicaDraw.claimWeight(1e18, 1e18, 0, 0);
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
