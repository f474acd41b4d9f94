// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Handler} from "./Handler.sol";
import {JobState} from "../../src/libraries/Types.sol";

/// @notice The handler's actions are not vacuous: a scripted run reaches every late state.
contract HandlerReachTest is Fixture {
    function test_handlerReachesCommitRevealFinalizeDisputesAndChallenges() public {
        registerAll(12);
        enterJuryPool(0, 12);
        Handler h = new Handler(market, usd, buyer, treasury, providers);
        for (uint256 round; round < 12; ++round) {
            h.postJob(uint8(round), 1_000, 1_000, 10);
            for (uint256 p; p < 5; ++p) h.claim(round, p);
            h.warp(30);
            // Rounds with k = 3 (round % 4 == 2): every replica corrupt, each differently: no majority.
            for (uint256 i; i < 5; ++i) h.commit(round, i, round % 4 == 2 || (round % 4 == 3 && i == 0));
            // Round 5 (k = 2): the buyer challenges the agreement instead of letting it settle.
            if (round == 5) h.challenge(round);
            for (uint256 i; i < 5; ++i) h.reveal(round, i);
            // Round 9: the buyer challenges from the chain alone once the reveals are in.
            if (round == 9) h.challenge(round);
            h.finalize(round);
            // Reveals that disagree wait out the buyer's check window, then anyone settles.
            if (market.jobOf(round + 1).state == JobState.Running) {
                h.warp(2 hours - 1);
                h.finalize(round);
            }
            for (uint256 move = 1; move <= 60; ++move) h.court(round, move);
            h.withdraw(round);
        }
        // The attackers: a slashing buyer's job with colluding replicas, a flooder and a replica
        // that leaves.
        h.slashingBuyer(2, 1); // k = 3
        uint256 job = h.jobCount() - 1;
        for (uint256 p; p < 5; ++p) h.claim(job, p);
        h.floodClaims(job);
        h.warp(61);
        // The first selected claimant commits (which selects the replicas); another leaves.
        uint256 commits = h.calls("commit");
        for (uint256 i; i < 5 && h.calls("commit") == commits; ++i) h.colludingCommit(job, i);
        for (uint256 i; i < 5; ++i) h.leaveJob(job, i);
        for (uint256 i; i < 5; ++i) h.colludingCommit(job, i);
        for (uint256 i; i < 5; ++i) h.reveal(job, i);
        h.challenge(job);
        for (uint256 move; move < 60; ++move) h.court(job, move + 1);
        assertEq(h.calls("slashingBuyer"), 1, "the slashing buyer posts");
        assertEq(h.calls("floodClaims"), 1, "the flooder tries");
        assertGe(h.calls("leave"), 1, "a replica leaves");
        assertEq(h.shortWindowsAccepted() + h.floodAccepted() + h.leaverSlashed(), 0, "no attack paid");
        assertGe(h.calls("commit"), 12, "commits happen");
        assertGe(h.calls("reveal"), 12, "reveals happen");
        assertGe(h.calls("reveal-settled"), 1, "the buyer's last reveal settles jobs");
        assertGe(h.calls("finalize") + h.calls("reveal-settled") + h.calls("court-settle"), 10, "jobs settle");
        assertGe(h.calls("court-move"), 10, "the court's games are played");
        assertGe(h.calls("jury-votes"), 1, "juries vote");
        assertGe(h.calls("court-settle"), 3, "games are decided and disputes settled");
        assertEq(h.honestLostInCourt(), 0, "no honest claim lost");
        assertGe(h.calls("withdraw"), 1, "withdrawals happen");
        assertGe(h.calls("challenge"), 2, "the buyer's challenges are reached, with reveals and without");
    }
}
