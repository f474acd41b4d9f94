// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Handler} from "./Handler.sol";

/// @notice The handler's actions are not vacuous: a scripted run reaches every late state.
contract HandlerReachTest is Fixture {
    function test_handlerReachesCommitRevealFinalizeDisputesAndChallenges() public {
        registerAll(5);
        Handler h = new Handler(market, usd, buyer, treasury, arbiter, providers);
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
            h.resolveOrExpire(round, round % 2 == 0);
            h.withdraw(round);
        }
        // The attackers: a slashing buyer's job with colluding replicas, a flooder and a replica
        // that leaves.
        h.slashingBuyer(2, 1); // k = 3
        uint256 job = h.jobCount() - 1;
        for (uint256 p; p < 5; ++p) h.claim(job, p);
        h.floodClaims(job);
        h.warp(61);
        h.colludingCommit(job, 0);
        for (uint256 i; i < 5; ++i) h.leaveJob(job, i);
        for (uint256 i; i < 5; ++i) h.colludingCommit(job, i);
        for (uint256 i; i < 5; ++i) h.reveal(job, i);
        h.challenge(job);
        h.resolveOrExpire(job, true);
        assertEq(h.calls("slashingBuyer"), 1, "the slashing buyer posts");
        assertEq(h.calls("floodClaims"), 1, "the flooder tries");
        assertGe(h.calls("leave"), 1, "a replica leaves");
        assertEq(h.shortWindowsAccepted() + h.floodAccepted() + h.leaverSlashed(), 0, "no attack paid");
        assertGe(h.calls("commit"), 12, "commits happen");
        assertGe(h.calls("reveal"), 12, "reveals happen");
        assertGe(h.calls("reveal-settled"), 1, "the buyer's last reveal settles jobs");
        assertGe(h.calls("finalize") + h.calls("reveal-settled"), 10, "jobs settle");
        assertGe(h.calls("resolve") + h.calls("expire"), 1, "disputes are reached and settled");
        assertGe(h.calls("withdraw"), 1, "withdrawals happen");
        assertEq(h.calls("challenge"), 3, "the buyer's challenges are reached, with reveals and without");
    }
}
