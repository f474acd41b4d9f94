// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CourtFixture} from "../utils/CourtFixture.sol";
import {Leaf, Traces, Tree} from "../utils/Traces.sol";
import {DisputePhase, JobState, JurySeat, Reveal, Trail} from "../../src/libraries/Types.sol";
import {Gridmint} from "../../src/Gridmint.sol";
import {GridmintCourt} from "../../src/GridmintCourt.sol";
import {GridmintStorage} from "../../src/base/GridmintStorage.sol";
import {IGridmint} from "../../src/interfaces/IGridmint.sol";

/// @notice The dispute court (issue #22): every transition of a game and every revert, played
/// with traces built the way runners build them.
contract CourtTest is CourtFixture {
    uint64 internal constant WU = 5;
    uint32 internal constant STEPS = 16;
    uint32 internal constant WRONG = 11; // the corrupt trace's first wrong step

    Tree internal honest;
    Tree internal corrupt;

    function setUp() public virtual override {
        super.setUp();
        registerAll(12);
        joinPool(7);
        honest = traceOf(STEPS, WU, STEPS);
        corrupt = traceOf(STEPS, WU, WRONG);
    }

    /// A k = 3 job whose replicas reveal `roots`; the buyer has not settled it.
    function revealed3(bytes32[3] memory roots) internal returns (uint256 jobId) {
        jobId = post(3);
        for (uint256 i; i < 3; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        for (uint256 i; i < 3; ++i) commitAs(jobId, i, providers[i], roots[i], WU);
        for (uint256 i; i < 3; ++i) revealAs(jobId, i, providers[i], roots[i], WU);
    }

    /// A k = 2 job whose replicas reveal (rootA, unitsA) and (rootB, unitsB), in that order: a
    /// tie the court plays once the check window passed (the first claim defends).
    function tied2(bytes32 rootA, uint64 unitsA, bytes32 rootB, uint64 unitsB) internal returns (uint256 jobId) {
        jobId = post(2);
        claimAs(jobId, providers[0]);
        claimAs(jobId, providers[1]);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[0], rootA, unitsA);
        commitAs(jobId, 1, providers[1], rootB, unitsB);
        revealAs(jobId, 0, providers[0], rootA, unitsA);
        revealAs(jobId, 1, providers[1], rootB, unitsB);
        vm.warp(trail(jobId).terms.revealDeadline + 61);
        finalize(jobId);
    }

    function challengeAs(address who, uint256 jobId) internal returns (uint256 bond) {
        Trail memory t = trail(jobId);
        bond = market.challengeBondOf(jobId, t);
        if (who != buyer) {
            usd.mint(who, bond);
            vm.prank(who);
            usd.approve(address(market), bond);
        }
        vm.prank(who);
        market.challenge(jobId, t, new Reveal[](0));
    }

    /// Two colluding replicas (0, 1) agree on a corrupt result, one (2) is honest; the buyer's
    /// spot check found step WRONG wrong. It challenges, bisects to that step, and the jury
    /// re-runs it: the colluders are slashed, the honest replica is paid, the buyer gets its
    /// bond back and pays only for the right result. No privileged key anywhere.
    function test_colludingMajority_isSlashedThroughBisectionAndAJury() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        uint256 bond = challengeAs(buyer, jobId);
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Trace), "the majority defends");
        assertEq(game(jobId).defender, 0, "replica 0's claim defends");
        assertEq(game(jobId).challenger, 255, "against the buyer");
        bisectTo(jobId, corrupt, WRONG, buyer);
        assertEq(game(jobId).position, WRONG, "bisection ends at the wrong step");
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.JuryVote), "a jury is called");
        seatJury(jobId, 7);
        assertEq(jury.length, 5, "each seat's best ticket of seven pool members");
        uint96[] memory stakesBefore = new uint96[](7);
        for (uint256 i; i < 7; ++i) stakesBefore[i] = market.providerOf(providers[FIRST_JUROR + i]).stake;
        voteAll(jobId, truth(honest, WRONG));
        assertEq(market.reputationOf(providers[0]).slashed, 1, "colluder slashed");
        assertEq(market.reputationOf(providers[1]).slashed, 1, "colluder slashed");
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Checking), "the honest claim is left to the buyer");
        vm.prank(buyer);
        market.advanceDispute(jobId, trail(jobId)); // the buyer accepts it at once
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "settled");
        assertEq(market.agreedRoot(jobId), claimRoot(honest), "the honest result");
        assertEq(market.accountOf(providers[2]).balance, UNIT_PAY * WU, "the honest replica is paid");
        assertEq(market.accountOf(providers[0]).balance, 0, "the colluders are not");
        uint256 escrow = UNIT_PAY * MAX_WU * 3 * 10_250 / 10_000;
        uint256 paid = UNIT_PAY * WU;
        assertEq(market.accountOf(buyer).balance, escrow - paid - paid * 250 / 10_000 + bond, "buyer made whole");
        assertEq(market.totalEscrow(), 0, "nothing stuck");
        // The five jurors who voted with the majority share half of the colluders' slashes, as stake.
        uint256 gained;
        uint256 paidJurors;
        for (uint256 i; i < 7; ++i) {
            uint96 stake = market.providerOf(providers[FIRST_JUROR + i]).stake;
            if (stake > stakesBefore[i]) {
                gained += stake - stakesBefore[i];
                ++paidJurors;
            }
        }
        uint256 slash = uint256(STAKE) * 1_000 / 10_000;
        assertEq(paidJurors, distinctJurors(), "every juror of the majority is paid");
        // Each colluder loses `slash`, half to the jury: one slash in all, less what does not divide.
        assertLe(slash - gained, 4, "half of both slashes, to the last indivisible unit");
    }

    /// The buyer challenges an honest unanimous result: the jury upholds it, the buyer forfeits
    /// its bond (to the jurors and the replicas) and the replicas are paid at once.
    function test_aWrongChallenge_costsTheBuyerItsBond() public {
        bytes32 r = claimRoot(honest);
        uint256 jobId = revealed3([r, r, r]);
        uint256 bond = challengeAs(buyer, jobId);
        bisectTo(jobId, honest, 3, buyer);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, 3));
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "settled: the buyer lost");
        uint256 pay = UNIT_PAY * WU;
        uint256 toReplicas = bond - (bond * 5_000 / 10_000) / 5 * 5;
        for (uint256 i; i < 3; ++i) {
            assertEq(market.accountOf(providers[i]).balance, pay + toReplicas / 3, "pay and a share of the bond");
        }
        // A share per seat: a member that holds two seats takes two.
        for (uint256 i; i < 5; ++i) {
            address member = providers[FIRST_JUROR + i];
            uint256 held;
            for (uint256 s; s < jury.length; ++s) if (jury[s] == member) ++held;
            assertEq(market.accountOf(member).balance, held * ((bond * 5_000 / 10_000) / 5), "a share per seat");
        }
        assertEq(market.totalEscrow(), 0, "nothing stuck");
    }

    /// Replicas split with no majority (one each): the earliest claim defends; the other
    /// replica steers the bisection; the jury decides.
    function test_aSplit_isPlayedOutBetweenTheClaims() public {
        bytes32 third = claimRoot(traceOf(STEPS, WU, 2));
        uint256 jobId = revealed3([claimRoot(honest), claimRoot(corrupt), third]);
        vm.warp(trail(jobId).terms.revealDeadline + 61);
        finalizeAs(address(0xCAFE), jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Disputed), "no majority: the court");
        assertEq(game(jobId).defender, 0, "the earliest claim defends");
        assertEq(game(jobId).challenger, 1, "against the next one");
        assertEq(game(jobId).steerer, providers[1], "whose replica steers");
        bisectTo(jobId, honest, WRONG, providers[1]);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, WRONG));
        assertEq(market.reputationOf(providers[1]).slashed, 1, "the losing claim is slashed");
        // The next game: the winner against the third claim.
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Trace), "the next game");
        assertEq(game(jobId).challenger, 2, "the third claim challenges");
        bisectTo(jobId, honest, 2, providers[2]);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, 2));
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Checking), "one claim left");
        timeOut(jobId);
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * WU, "the survivor is paid");
        assertEq(market.reputationOf(providers[2]).slashed, 1, "the third claim is slashed");
        assertEq(market.totalEscrow(), 0, "nothing stuck");
    }

    /// A dissenting replica (honest, in the minority) challenges the colluding majority itself.
    function test_aDissentingReplica_challengesTheMajority() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        // The buyer cannot settle a split at once: the minority has the check window.
        Trail memory t = trail(jobId);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(NotFinalizable.selector, jobId));
        market.finalize(jobId, t);
        // A replica of the majority cannot challenge its own claim.
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(CannotChallenge.selector, jobId, providers[0]));
        market.challenge(jobId, t, new Reveal[](0));
        uint256 bond = challengeAs(providers[2], jobId);
        assertEq(game(jobId).challenger, 2, "the dissenter challenges");
        bisectTo(jobId, corrupt, WRONG, providers[2]);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, WRONG));
        assertEq(market.accountOf(providers[2]).balance, bond, "its bond back");
        timeOut(jobId);
        assertEq(market.agreedRoot(jobId), claimRoot(honest), "the dissenter was right");
        assertEq(market.accountOf(providers[2]).balance, bond + UNIT_PAY * WU, "and is paid");
    }

    // ---- deadlines: the side that does not move loses --------------------------------------

    /// A k = 4 job split two against two: replicas 0 and 1 reveal the corrupt claim (it defends:
    /// the earliest of the tie), 2 and 3 the honest one, which challenges; the honest replica
    /// that revealed first steers (`first`: 2 or 3). The defender has split the root; it is the
    /// challenger's turn.
    function splitTwoAgainstTwo(uint256 first) internal returns (uint256 jobId) {
        jobId = post(4);
        for (uint256 i; i < 4; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        bytes32[4] memory roots = [claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest), claimRoot(honest)];
        for (uint256 i; i < 4; ++i) commitAs(jobId, i, providers[i], roots[i], WU);
        uint256[4] memory order = [uint256(0), 1, first, 5 - first];
        for (uint256 k; k < 4; ++k) revealAs(jobId, order[k], providers[order[k]], roots[order[k]], WU);
        vm.warp(trail(jobId).terms.revealDeadline + 61);
        finalize(jobId);
        assertEq(game(jobId).defender, 0, "the corrupt claim defends");
        assertEq(game(jobId).challenger, first, "the honest claim challenges");
        assertEq(game(jobId).steerer, providers[first], "the first honest replica to reveal steers");
        openTraceOf(jobId, corrupt);
        split(jobId, corrupt);
    }

    /// The review's "only the first replica steers": the challenging replica that steers goes
    /// silent; its claim does not lose for it. The next replica of the claim steers, the game
    /// goes on to the jury, and the corrupt claim loses. The silent one's miss is counted.
    /// (The review's finding on the first handover: it went up the claim order only, so a claim
    /// whose highest replica steered first lost with a lower one ready; hence both orders.)
    function test_aSilentSteeringReplica_isReplacedByAnotherOfItsClaim() public {
        for (uint256 first = 2; first <= 3; ++first) {
            uint256 other = 5 - first;
            uint256 jobId = splitTwoAgainstTwo(first);
            timeOut(jobId);
            assertEq(uint256(phase(jobId)), uint256(DisputePhase.Bisect), "the game goes on");
            assertEq(game(jobId).steerer, providers[other], "the other honest replica steers now");
            assertEq(market.reputationOf(providers[first]).missed, 1, "the silent one's miss is counted");
            (bytes32[] memory parts, uint64[] memory flops) = partsOf(corrupt, jobId, moveLevels(jobId));
            vm.prank(providers[first]);
            vm.expectRevert(abi.encodeWithSelector(NotYourMove.selector, jobId));
            market.pickPart(jobId, 0, parts, flops);
            pickAs(providers[other], jobId, corrupt, WRONG);
            descend(jobId, corrupt, WRONG, providers[other]);
            openLeafOf(jobId, corrupt, WRONG);
            seatJury(jobId, 5);
            voteAll(jobId, truth(honest, WRONG));
            assertEq(market.reputationOf(providers[0]).slashed, first - 1, "the corrupt claim loses");
            assertEq(market.reputationOf(providers[2]).slashed, 0, "the honest ones keep their stake");
            assertEq(market.reputationOf(providers[3]).slashed, 0, "the honest ones keep their stake");
        }
    }

    /// When every replica of the challenging claim is silent, the claim loses: the handover
    /// goes round the claim once, then the game ends.
    function test_whenNoReplicaOfTheClaimSteers_itLoses() public {
        uint256 jobId = splitTwoAgainstTwo(3);
        timeOut(jobId);
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Bisect), "handed over first");
        assertEq(game(jobId).steerer, providers[2], "to the other replica, below the first");
        timeOut(jobId);
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Checking), "then the claim lost");
        assertEq(market.reputationOf(providers[3]).missed, 1, "each silent steerer missed");
        assertEq(market.reputationOf(providers[2]).missed, 0, "the last one lost the game instead");
        assertEq(market.reputationOf(providers[2]).slashed, 1, "a claim nobody steers loses");
        assertEq(market.reputationOf(providers[3]).slashed, 1, "a claim nobody steers loses");
        assertEq(market.reputationOf(providers[0]).slashed, 0, "the defending claim stands");
    }

    function test_aDefenderThatNeverOpensItsTrace_loses() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        Trail memory t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(DisputeOpen.selector, jobId));
        market.advanceDispute(jobId, t);
        vm.warp(uint256(game(jobId).deadline) + 1);
        vm.expectRevert(abi.encodeWithSelector(MoveTooLate.selector, jobId));
        openTraceOf(jobId, corrupt);
        advance(jobId);
        assertEq(market.reputationOf(providers[0]).slashed, 1, "the silent defender loses");
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Checking), "the other claim is left");
    }

    /// A party that stops answering mid-bisection loses: here the defender after two rounds.
    function test_aDefenderThatStopsMidBisection_loses() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        openTraceOf(jobId, corrupt);
        descendMoves(jobId, corrupt, 1, WRONG, buyer); // a round, then silence
        timeOut(jobId);
        assertEq(market.reputationOf(providers[0]).slashed, 1, "the defender that stopped loses");
    }

    /// The challenger stops picking: it loses (the buyer's bond is forfeited).
    function test_aChallengerThatStopsPicking_loses() public {
        bytes32 r = claimRoot(honest);
        uint256 jobId = revealed3([r, r, r]);
        uint256 bond = challengeAs(buyer, jobId);
        openTraceOf(jobId, honest);
        split(jobId, honest);
        timeOut(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "settled for the replicas");
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * WU + bond / 3, "the bond to the replicas (no jury)");
    }

    function test_aDefenderThatNeverOpensTheLeaf_loses() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        openTraceOf(jobId, corrupt);
        descend(jobId, corrupt, WRONG, buyer);
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Leaf), "at the leaf");
        timeOut(jobId);
        assertEq(market.reputationOf(providers[0]).slashed, 1, "no leaf, no defence");
    }

    /// Nobody takes a seat: the defender's claim stands.
    function test_withoutJurors_theDefenderStands() public {
        bytes32 r = claimRoot(honest);
        uint256 jobId = revealed3([r, r, r]);
        challengeAs(buyer, jobId);
        bisectTo(jobId, honest, 0, buyer);
        timeOut(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "the replicas are paid");
    }

    /// The number of different members among the seats' jurors.
    function distinctJurors() internal view returns (uint256 n) {
        for (uint256 s; s < jury.length; ++s) {
            bool seen;
            for (uint256 o; o < s; ++o) seen = seen || jury[o] == jury[s];
            if (!seen) ++n;
        }
    }

    /// The seated member, other than `not`, that holds the fewest seats.
    function fewestSeats(address not) internal view returns (address who) {
        uint256 least = type(uint256).max;
        for (uint256 s; s < jury.length; ++s) {
            if (jury[s] == not) continue;
            uint256 held;
            for (uint256 o; o < jury.length; ++o) if (jury[o] == jury[s]) ++held;
            if (held < least) (least, who) = (held, jury[s]);
        }
    }

    /// A juror that lies is outvoted and slashed lightly (for each seat it lied in); a juror that
    /// never reveals is slashed lightly; the majority is paid. (Every seat is a race of its own,
    /// so a member may hold several: each role is played in every seat its member holds.)
    function test_aLyingJurorAndAbsentJurors_areSlashedAndOutvoted() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        bisectTo(jobId, corrupt, WRONG, buyer);
        seatJury(jobId, 5);
        require(distinctJurors() >= 3, "the draw seated fewer than three members: pick another seed");
        // The liar and the absent juror: the two members holding the fewest seats.
        address liar = fewestSeats(address(0));
        address absent = fewestSeats(liar);
        address honestJuror;
        for (uint256 s; s < jury.length; ++s) {
            if (honestJuror == address(0) && jury[s] != liar && jury[s] != absent) honestJuror = jury[s];
        }
        bytes32[] memory outputs = new bytes32[](5);
        uint256 lies;
        uint256 truths;
        for (uint256 s; s < jury.length; ++s) {
            if (jury[s] == liar) {
                outputs[s] = answer(corrupt, WRONG); // a colluders' juror backs the defender
                ++lies;
            } else if (jury[s] == absent) {
                outputs[s] = ABSENT; // takes a seat, never reveals
            } else {
                outputs[s] = truth(honest, WRONG);
                ++truths;
            }
        }
        require(truths > lies, "the draw gave the liar the majority: pick another seed");
        uint96 liarStake = market.providerOf(liar).stake;
        uint96 absentStake = market.providerOf(absent).stake;
        uint96 honestStake = market.providerOf(honestJuror).stake;
        vote(jobId, outputs);
        assertEq(market.reputationOf(providers[0]).slashed, 1, "the colluding defender loses");
        assertLe(market.providerOf(liar).stake, liarStake - liarStake * 500 / 10_000, "the lying juror is slashed");
        assertLe(market.providerOf(absent).stake, absentStake - absentStake * 500 / 10_000, "the absent juror is slashed");
        assertGe(market.reputationOf(absent).missed, 1, "and counted as missed");
        assertGt(market.providerOf(honestJuror).stake, honestStake, "the honest juror is paid, in stake");
        assertEq(market.providerOf(liar).activeJobs, 0, "every juror is released");
        assertEq(market.providerOf(absent).activeJobs, 0, "every juror is released");
    }

    /// A trace that stops short (fewer steps than the job has): the challenger picks a leaf past
    /// its end, the defender can only open it empty, and the jury knows the step exists.
    function test_aTraceThatStopsShort_losesAtAnEmptyLeaf() public {
        Tree memory short_ = traceOf(STEPS - 4, WU, STEPS);
        uint256 jobId = revealed3([claimRoot(short_), claimRoot(short_), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        bisectTo(jobId, short_, STEPS - 2, buyer);
        assertEq(game(jobId).node, answer(short_, STEPS - 2), "an empty leaf: no output, no flops");
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, STEPS - 2));
        assertEq(market.reputationOf(providers[0]).slashed, 1, "the short trace loses");
    }

    /// A trace whose flops are inflated (the outputs right) loses at any leaf: the jury's answer
    /// binds the step's flops; and one cut to a power of two (steps skipped) loses too: it binds
    /// the trace's length.
    function test_inflatedFlopsOrAShortTrace_loseAtAnyLeaf() public {
        Tree memory inflated = Traces.build(STEPS, uint64(WU) * 1e9 * 2, STEPS, "wrong");
        Tree memory short_ = Traces.build(STEPS / 2, uint64(WU) * 1e9, STEPS, "wrong");
        for (uint256 k; k < 2; ++k) {
            Tree memory bad = k == 0 ? inflated : short_;
            uint256 jobId = tied2(claimRoot(bad), uint64(bad.flops / 1e9), claimRoot(honest), WU);
            assertEq(game(jobId).defender, 0, "the bad claim defends (it revealed first)");
            // The honest replica steers to step 1, where the bad trace's output is right.
            bisectTo(jobId, bad, 1, providers[1]);
            seatJury(jobId, 5);
            voteAll(jobId, truth(honest, 1));
            assertEq(market.reputationOf(providers[0]).slashed, k + 1, "the bad claim loses");
            vm.warp(uint256(game(jobId).deadline) + 1);
            advance(jobId);
            assertEq(market.agreedRoot(jobId), claimRoot(honest), "the honest claim is paid");
        }
    }

    /// Work units the trace does not add up to cannot be defended: a sybil revealing the honest
    /// root with the maximum units cannot open it.
    function test_unitsMustBeTheTracesFlops() public {
        uint256 jobId = tied2(claimRoot(honest), MAX_WU, claimRoot(honest), WU);
        vm.expectRevert(abi.encodeWithSelector(TraceMismatch.selector, jobId));
        openTraceOf(jobId, honest);
        timeOut(jobId);
        assertEq(market.reputationOf(providers[0]).slashed, 1, "the inflated claim loses");
        timeOut(jobId);
        assertEq(market.accountOf(providers[1]).balance, UNIT_PAY * WU, "the true work is paid");
    }

    /// When every claim loses, the buyer is refunded in full (and its bond comes back).
    function test_whenEveryClaimLoses_theBuyerIsRefunded() public {
        bytes32 c = claimRoot(corrupt);
        uint256 jobId = revealed3([c, c, c]);
        challengeAs(buyer, jobId);
        bisectTo(jobId, corrupt, WRONG, buyer);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, WRONG));
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Refunded), "refunded");
        vm.prank(buyer);
        market.withdraw();
        assertEq(usd.balanceOf(buyer), 1e15, "every token back (escrow and bond): all it was minted");
        for (uint256 i; i < 3; ++i) assertEq(market.providerOf(providers[i]).activeJobs, 0, "released");
    }

    /// After a replicas' game, the buyer may still challenge the claim left.
    function test_theBuyerMayChallengeTheSurvivor() public {
        Tree memory other = traceOf(STEPS, WU, 3);
        uint256 jobId = tied2(claimRoot(corrupt), WU, claimRoot(other), WU);
        // Replica 1 steers to step 3, where its rival is right (its own trace went wrong there).
        bisectTo(jobId, corrupt, 3, providers[1]);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, 3));
        assertEq(uint256(phase(jobId)), uint256(DisputePhase.Checking), "corrupt claim left");
        Trail memory t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(CannotChallenge.selector, jobId, providers[0]));
        market.challengeSurvivor(jobId, t);
        vm.prank(buyer);
        market.challengeSurvivor(jobId, t);
        bisectTo(jobId, corrupt, WRONG, buyer);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, WRONG));
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Refunded), "no claim survives");
        assertEq(market.totalEscrow(), 0, "nothing stuck");
    }

    // ---- reverts ------------------------------------------------------------------------------

    function test_moves_revertOutOfTurnAndOnForgedData() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        vm.expectRevert(abi.encodeWithSelector(TraceMismatch.selector, jobId));
        market.openTrace(jobId, traceRoot(honest), honest.flops, STEPS);
        (bytes32[] memory none, uint64[] memory noFlops) = (new bytes32[](0), new uint64[](0));
        vm.expectRevert(abi.encodeWithSelector(WrongPhase.selector, jobId, DisputePhase.Trace));
        market.pickPart(jobId, 0, none, noFlops);
        openTraceOf(jobId, corrupt);
        (bytes32[] memory parts, uint64[] memory flops) = partsOf(corrupt, jobId, moveLevels(jobId));
        (bytes32[] memory swapped, uint64[] memory swappedFlops) = partsOf(corrupt, jobId, moveLevels(jobId));
        (swapped[0], swapped[1]) = (swapped[1], swapped[0]);
        (swappedFlops[0], swappedFlops[1]) = (swappedFlops[1], swappedFlops[0]);
        vm.expectRevert(abi.encodeWithSelector(TraceMismatch.selector, jobId));
        market.splitNode(jobId, swapped, swappedFlops);
        vm.expectRevert(abi.encodeWithSelector(TraceMismatch.selector, jobId));
        market.splitNode(jobId, none, noFlops);
        vm.expectRevert(abi.encodeWithSelector(NotYourMove.selector, jobId));
        vm.prank(buyer);
        market.pickPart(jobId, 0, parts, flops);
        market.splitNode(jobId, parts, flops);
        vm.expectRevert(abi.encodeWithSelector(NotYourMove.selector, jobId));
        market.splitNode(jobId, parts, flops);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(NotYourMove.selector, jobId));
        market.pickPart(jobId, 0, parts, flops);
        // Parts other than the split's are refused: the picked node must be the defender's.
        {
            (bytes32[] memory others, uint64[] memory otherFlops) = partsOf(honest, jobId, moveLevels(jobId));
            others[0] = keccak256("another part");
            vm.prank(buyer);
            vm.expectRevert(abi.encodeWithSelector(TraceMismatch.selector, jobId));
            market.pickPart(jobId, 0, others, otherFlops);
        }
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(TraceMismatch.selector, jobId));
        market.pickPart(jobId, parts.length, parts, flops);
        pickAs(buyer, jobId, corrupt, WRONG);
        descend(jobId, corrupt, WRONG, buyer);
        {
            Leaf memory l = corrupt.leaves[WRONG];
            vm.expectRevert(abi.encodeWithSelector(TraceMismatch.selector, jobId));
            market.openLeaf(jobId, l.prev, l.inHash, truth(honest, WRONG));
            market.openLeaf(jobId, l.prev, l.inHash, l.outHash);
        }
        address[] memory parties = partiesOf(jobId);
        address member = providers[FIRST_JUROR];
        bytes32 out = truth(honest, WRONG);
        bytes32 digest = market.voteDigest(jobId, out, bytes32(0), member);
        // The seed is the leaf block's hash: nobody commits in that block.
        vm.prank(member);
        vm.expectRevert(abi.encodeWithSelector(JuryNotSeeded.selector, jobId));
        market.commitVote(jobId, 0, digest, parties);
        vm.roll(vm.getBlockNumber() + 1);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(NotEligible.selector, jobId, buyer));
        market.commitVote(jobId, 0, digest, parties);
        vm.prank(address(0xDEAD));
        vm.expectRevert(abi.encodeWithSelector(NotEligible.selector, jobId, address(0xDEAD)));
        market.commitVote(jobId, 0, digest, parties);
        vm.prank(member);
        vm.expectRevert(abi.encodeWithSelector(VoteMismatch.selector, jobId, uint256(0)));
        market.commitVote(jobId, 0, bytes32(0), parties);
        vm.prank(member);
        vm.expectRevert(abi.encodeWithSelector(JuryMismatch.selector, jobId));
        market.commitVote(jobId, 0, digest, new address[](0));
        vm.prank(member);
        vm.expectRevert(abi.encodeWithSelector(NotJuror.selector, jobId, uint256(5)));
        market.commitVote(jobId, 5, digest, parties); // seats 0 to 4
        vm.prank(member);
        assertTrue(market.commitVote(jobId, 0, digest, parties), "the first seat");
        vm.prank(member);
        vm.expectRevert(abi.encodeWithSelector(VoteMismatch.selector, jobId, uint256(0)));
        market.commitVote(jobId, 0, digest, parties);
        vm.prank(member);
        vm.expectRevert(abi.encodeWithSelector(DisputeOpen.selector, jobId));
        market.revealVote(jobId, 0, out, bytes32(0));
        vm.warp(uint256(game(jobId).deadline) + 1);
        vm.prank(providers[FIRST_JUROR + 1]);
        vm.expectRevert(abi.encodeWithSelector(NotJuror.selector, jobId, uint256(0)));
        market.revealVote(jobId, 0, out, bytes32(0));
        vm.prank(member);
        vm.expectRevert(abi.encodeWithSelector(VoteMismatch.selector, jobId, uint256(0)));
        market.revealVote(jobId, 0, keccak256("another"), bytes32(0));
        vm.prank(member);
        market.revealVote(jobId, 0, out, bytes32(0));
        advance(jobId);
        assertEq(market.reputationOf(providers[0]).slashed, 1, "one honest juror suffices");
    }

    /// A pool member with `stake` (registered with one compute unit, so the minimum stake is 1e18).
    function sybil(uint256 i, uint96 stake) internal returns (address a) {
        a = vm.addr(0x5000 + i);
        grid.transfer(a, stake);
        vm.startPrank(a);
        grid.approve(address(market), type(uint256).max);
        market.register(keccak256("sybil"), 1_024, 1, 3, 0xff, stake, address(0));
        market.joinJuryPool();
        vm.stopPrank();
    }

    /// The review's flood: 24 sybil addresses with the minimum stake take every seat before the
    /// honest members come. They hold a seat only while their ticket for it beats the comers':
    /// every honest member whose ticket for a seat is better takes it, its holder released
    /// unslashed, and each seat ends with the best ticket for it of everyone who came. A worse
    /// ticket is refused.
    function test_attack_aSybilFloodHoldsOnlyTheSeatsItsTicketsWin() public {
        address[] memory sybils = new address[](24);
        for (uint256 i; i < sybils.length; ++i) sybils[i] = sybil(i, 1e18);
        vm.roll(vm.getBlockNumber() + 1);
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        bisectTo(jobId, corrupt, WRONG, buyer);
        vm.roll(vm.getBlockNumber() + 1);
        address[] memory parties = partiesOf(jobId);
        uint256 size = market.jurySize();
        uint256 taken;
        address[] memory comers = new address[](sybils.length + 7);
        for (uint256 i; i < comers.length; ++i) {
            comers[i] = i < sybils.length ? sybils[i] : providers[FIRST_JUROR + i - sybils.length];
            (uint64[] memory tickets,) = market.juryTicketsOf(jobId, comers[i]);
            bytes32 digest = market.voteDigest(jobId, truth(honest, WRONG), voteSalt(comers[i]), comers[i]);
            for (uint256 s; s < size; ++s) {
                JurySeat memory held = market.juryOf(jobId)[s];
                vm.prank(comers[i]);
                if (held.juror != address(0) && tickets[s] >= held.ticket) {
                    vm.expectRevert(abi.encodeWithSelector(TicketTooLow.selector, jobId, tickets[s], held.ticket));
                    market.commitVote(jobId, s, digest, parties);
                } else {
                    market.commitVote(jobId, s, digest, parties);
                    ++taken;
                }
            }
        }
        JurySeat[] memory seats = market.juryOf(jobId);
        for (uint256 s; s < size; ++s) {
            // Each seat holds the best ticket for it of all 31 that came ...
            for (uint256 i; i < comers.length; ++i) {
                (uint64[] memory tickets,) = market.juryTicketsOf(jobId, comers[i]);
                assertGe(tickets[s], seats[s].ticket, "only the best ticket for a seat holds it");
            }
            // ... and the honest members carry 7 000e18 of stake against the sybils' 24e18.
            for (uint256 i; i < sybils.length; ++i) {
                assertTrue(seats[s].juror != sybils[i], "a flood of minimum stakes wins no seat against real stake");
            }
        }
        for (uint256 i; i < sybils.length; ++i) {
            assertEq(market.providerOf(sybils[i]).activeJobs, 0, "an unseated member is released");
        }
        assertGt(taken, size, "the flood took seats first");
    }

    /// Entering the pool, or adding stake, once the leaf's block is known is too late for that
    /// draw: nobody who can compute the seed enters the race or raises its weight in it. A
    /// returning provider re-enters the pool itself.
    function test_attack_joiningOrAddingStakeAfterTheSeed_isNotDrawn() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        bisectTo(jobId, corrupt, WRONG, buyer);
        vm.roll(vm.getBlockNumber() + 1);
        address[] memory parties = partiesOf(jobId);
        address late = sybil(99, 5_000e18);
        address member = providers[FIRST_JUROR];
        vm.prank(member);
        market.addStake(1e18);
        for (uint256 k; k < 2; ++k) {
            address who = k == 0 ? late : member;
            (, bool eligible) = market.juryTicketsOf(jobId, who);
            assertTrue(!eligible, "not eligible");
            bytes32 digest = market.voteDigest(jobId, truth(honest, WRONG), voteSalt(who), who);
            vm.prank(who);
            vm.expectRevert(abi.encodeWithSelector(NotEligible.selector, jobId, who));
            market.commitVote(jobId, 0, digest, parties);
        }
        // A party in the pool never judges its own job.
        vm.prank(providers[0]);
        market.joinJuryPool();
        vm.roll(vm.getBlockNumber() + 1);
        bytes32 partyDigest = market.voteDigest(jobId, bytes32(0), 0, providers[0]);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(NotEligible.selector, jobId, providers[0]));
        market.commitVote(jobId, 0, partyDigest, parties);
        // Leaving the pool: not eligible in later games either.
        vm.prank(providers[FIRST_JUROR + 1]);
        market.leaveJuryPool();
        assertEq(market.jurySinceOf(providers[FIRST_JUROR + 1]), 0, "left");
        vm.prank(providers[FIRST_JUROR + 1]);
        vm.expectRevert(abi.encodeWithSelector(NotRegistered.selector, providers[FIRST_JUROR + 1]));
        market.leaveJuryPool();
    }

    /// A game of a corrupt majority the buyer challenged, at its jury's vote on step WRONG, the
    /// seed's block passed. (Called as `this.atTheVote()`: inlined, the test runs out of stack
    /// under the IR compiler.)
    function atTheVote() external returns (uint256 jobId) {
        jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        bisectTo(jobId, corrupt, WRONG, buyer);
        vm.roll(vm.getBlockNumber() + 1);
    }

    /// `who` commits `output` for `seat`.
    function commitFor(uint256 jobId, address who, uint256 seat, bytes32 output) internal returns (bool) {
        bytes32 digest = market.voteDigest(jobId, output, voteSalt(who), who);
        address[] memory parties = partiesOf(jobId);
        vm.prank(who);
        return market.commitVote(jobId, seat, digest, parties);
    }

    /// `who` reveals `output` for `seat`.
    function revealFor(uint256 jobId, address who, uint256 seat, bytes32 output) internal {
        vm.prank(who);
        market.revealVote(jobId, seat, output, voteSalt(who));
    }

    /// A pool member other than `a` whose ticket for `seat` beats `a`'s.
    function betterFor(uint256 jobId, address a, uint256 seat) internal view returns (address) {
        (uint64[] memory mine,) = market.juryTicketsOf(jobId, a);
        for (uint256 i; i < 7; ++i) {
            address m = providers[FIRST_JUROR + i];
            (uint64[] memory theirs,) = market.juryTicketsOf(jobId, m);
            if (m != a && theirs[seat] < mine[seat]) return m;
        }
        revert("no member beats it for the seat: pick another seed");
    }

    /// A member may hold several seats, one vote each, and is counted per seat: evicted from one
    /// it keeps the others; at the verdict it is paid once per seat that voted with the majority,
    /// slashed once per seat that did not (a member hedging its seats pays for it), and released
    /// from all of them.
    function test_aMemberHoldingSeveralSeats_isCountedPerSeat() public {
        uint256 jobId = this.atTheVote();
        address a = providers[FIRST_JUROR];
        bytes32 right = truth(honest, WRONG);
        // A takes seats 0, 1 and 2 (free seats), voting right in 0 and 2, wrong in 1.
        for (uint256 s; s < 3; ++s) {
            assertTrue(commitFor(jobId, a, s, s == 1 ? answer(corrupt, WRONG) : right), "a free seat");
        }
        assertEq(market.providerOf(a).activeJobs, 3, "locked once per seat");
        // The member whose ticket for seat 2 beats A's takes it from A.
        address b = betterFor(jobId, a, 2);
        commitFor(jobId, b, 2, right);
        assertEq(market.juryOf(jobId)[2].juror, b, "B holds seat 2");
        assertEq(market.providerOf(a).activeJobs, 2, "A keeps seats 0 and 1");
        // Two more members take seats 3 and 4.
        address[] memory others = new address[](2);
        for (uint256 i = 1; others[1] == address(0); ++i) {
            address m = providers[FIRST_JUROR + i];
            if (m == b) continue;
            others[others[0] == address(0) ? 0 : 1] = m;
        }
        commitFor(jobId, others[0], 3, right);
        commitFor(jobId, others[1], 4, right);
        uint96 aBefore = market.providerOf(a).stake;
        uint96 bBefore = market.providerOf(b).stake;
        vm.warp(uint256(game(jobId).deadline) + 1);
        revealFor(jobId, a, 0, right);
        revealFor(jobId, a, 1, answer(corrupt, WRONG));
        revealFor(jobId, b, 2, right);
        revealFor(jobId, others[0], 3, right);
        revealFor(jobId, others[1], 4, right);
        advance(jobId);
        assertEq(market.reputationOf(providers[0]).slashed, 1, "four seats to one: the colluders lose");
        uint96 share = market.providerOf(b).stake - bBefore; // one coherent seat's pay
        assertGt(share, 0, "B is paid");
        assertEq(market.providerOf(a).stake, aBefore - aBefore * 500 / 10_000 + share, "A: one seat paid, one slashed");
        assertEq(market.providerOf(a).activeJobs, 0, "A released from every seat");
        assertEq(market.providerOf(b).activeJobs, 0, "B released");
    }

    /// Nobody takes a seat within 256 blocks of the leaf (its hash is gone): the first vote
    /// reseeds the draw from its own block, and takes a seat from the next.
    function test_aStaleSeed_isReseeded() public {
        uint256 jobId = revealed3([claimRoot(corrupt), claimRoot(corrupt), claimRoot(honest)]);
        challengeAs(buyer, jobId);
        bisectTo(jobId, corrupt, WRONG, buyer);
        vm.roll(vm.getBlockNumber() + 300);
        address member = providers[FIRST_JUROR];
        address[] memory parties = partiesOf(jobId);
        bytes32 digest = market.voteDigest(jobId, truth(honest, WRONG), voteSalt(member), member);
        vm.prank(member);
        assertTrue(!market.commitVote(jobId, 2, digest, parties), "reseeded, no seat");
        assertEq(game(jobId).jury.seedBlock, vm.getBlockNumber(), "seeded by this block");
        assertEq(game(jobId).jury.takenSeats, 0, "no seat taken");
        vm.roll(vm.getBlockNumber() + 1);
        vm.prank(member);
        assertTrue(market.commitVote(jobId, 2, digest, parties), "then a seat");
        assertEq(game(jobId).jury.takenSeats, 1 << 2, "seat 2");
    }

    /// Called at the court's own address, a move would act on the court's empty storage.
    function test_theCourtRefusesCallsAtItsOwnAddress() public {
        address court = market.court();
        vm.expectRevert(abi.encodeWithSelector(OnlyThroughMarket.selector, address(0)));
        IGridmint(court).pickPart(1, 0, new bytes32[](0), new uint64[](0));
        Trail memory t;
        vm.expectRevert(abi.encodeWithSelector(OnlyThroughMarket.selector, address(0)));
        IGridmint(court).advanceDispute(1, t);
    }

    /// A market built with a court of another configuration is refused.
    function test_aCourtOfAnotherConfig_isRefused() public {
        GridmintStorage.Config memory c = config();
        c.jurySize = 3;
        address court = address(new GridmintCourt(c));
        c.jurySize = 5;
        c.court = court;
        vm.expectRevert(abi.encodeWithSelector(InvalidParameter.selector, "court"));
        new Gridmint(c);
    }

    // ---- fuzz ---------------------------------------------------------------------------------

    /// Any trace length and any wrong step: the bisection takes ⌈log2 steps⌉ rounds and ends at
    /// the wrong step, which the jury finds wrong; the honest replica is paid.
    function testFuzz_bisectionFindsTheWrongStepInLog2Rounds(uint16 stepsSeed, uint16 wrongSeed) public {
        uint32 steps = uint32(bound(stepsSeed, 1, 600));
        uint32 wrong = uint32(bound(wrongSeed, 0, steps - 1));
        Tree memory good = traceOf(steps, WU, steps);
        Tree memory bad = traceOf(steps, WU, wrong);
        uint256 jobId = revealed3([claimRoot(bad), claimRoot(bad), claimRoot(good)]);
        challengeAs(buyer, jobId);
        openTraceOf(jobId, bad);
        uint256 depth;
        while ((uint256(1) << depth) < steps) ++depth;
        assertEq(game(jobId).depth, depth, "a tree of ceil(log2 steps) levels");
        uint256 per = market.levelsPerMove();
        uint256 moves;
        while (game(jobId).depth > 0) {
            descendMoves(jobId, bad, 1, wrong, buyer);
            ++moves;
        }
        assertEq(moves, (depth + per - 1) / per, "rounds = ceil(log2 steps / levelsPerMove)");
        openLeafOf(jobId, bad, wrong);
        assertEq(game(jobId).position, wrong, "at the wrong step");
        seatJury(jobId, 5);
        voteAll(jobId, truth(good, wrong));
        vm.prank(buyer);
        market.advanceDispute(jobId, trail(jobId));
        assertEq(market.agreedRoot(jobId), claimRoot(good), "the honest claim wins");
        assertEq(market.totalEscrow(), 0, "nothing stuck");
    }
}

/// @notice Every game of `CourtTest` again with one level per move: plain bisection, ⌈log2 steps⌉ rounds.
contract CourtBisectionTest is CourtTest {
    function config() internal view override returns (GridmintStorage.Config memory c) {
        c = super.config();
        c.levelsPerMove = 1;
    }
}
