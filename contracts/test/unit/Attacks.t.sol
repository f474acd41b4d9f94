// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CourtFixture} from "../utils/CourtFixture.sol";
import {Leaf, Tree} from "../utils/Traces.sol";
import {JobParams, JobState, Reveal, Trail} from "../../src/libraries/Types.sol";

/// @notice The attacks of issue #21 on the contracts, each as the attacker would run it. Every
/// test here failed on the market before the fix it names (see contracts/README.md, "Threat
/// model", for the table of attacks, fixes and tests).
contract AttacksTest is CourtFixture {
    bytes32 internal constant ROOT = keccak256("result");
    bytes32 internal constant BAD = keccak256("forged result");

    function setUp() public override {
        super.setUp();
        registerAll(5);
        joinPool(5);
    }

    // ---- 1. a buyer who slashes for profit ----------------------------------------------------------

    /// The buyer posts a commit window of one second for three replicas: nobody can commit in
    /// time, and every selected replica would be slashed with half to the buyer.
    function test_attack_buyerPostsWindowsTooShortForItsReplicas() public {
        JobParams memory p = params(3);
        p.commitDeadline = p.claimDeadline + 1;
        p.revealDeadline = p.commitDeadline + 1 hours;
        uint256 minimum = uint256(market.minStepWindow()) * 4;
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(WindowTooShort.selector, uint256(1), minimum));
        market.postJob(p);
        p.commitDeadline = uint40(p.claimDeadline + minimum);
        p.revealDeadline = p.commitDeadline + 2;
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(WindowTooShort.selector, uint256(2), minimum));
        market.postJob(p);
        p.revealDeadline = uint40(p.commitDeadline + minimum);
        postWith(p); // the minimum itself is allowed
    }

    /// The buyer never serves the data: the selected replica cannot commit and misses its
    /// deadline. The slash goes to the treasury, not to the buyer who caused it.
    function test_attack_buyerEarnsNothingFromAMissedDeadline() public {
        uint256 jobId = post(1);
        claimAs(jobId, providers[0]);
        uint96 stakeBefore = market.providerOf(providers[0]).stake;
        vm.warp(vm.getBlockTimestamp() + 201);
        finalize(jobId);
        uint256 slashed = stakeBefore - market.providerOf(providers[0]).stake;
        assertGt(slashed, 0, "a no-show is still slashed");
        assertEq(market.stakeCredit(buyer), 0, "the buyer gets none of a missed deadline's slash");
        assertEq(market.stakeCredit(treasury), slashed, "all of it to the treasury");
    }

    /// `maxWorkUnits = 1` made every honest reveal of more work revert (WorkUnitsOverMax), so
    /// honest replicas missed the reveal deadline and were slashed.
    function test_attack_aTinyMaxWorkUnitsCannotMakeHonestRevealsFail() public {
        JobParams memory p = params(2);
        p.maxWorkUnits = 1;
        uint256 jobId = postWith(p);
        for (uint256 i; i < 2; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        for (uint256 i; i < 2; ++i) commitAs(jobId, i, providers[i], ROOT, 500);
        for (uint256 i; i < 2; ++i) {
            vm.prank(providers[i]);
            market.reveal(jobId, i, ROOT, 500, salt(providers[i]), trail(jobId));
            bookReveal(jobId, i, ROOT, 1); // the market records the capped count
        }
        finalize(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "settled");
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY, "paid the job's maximum");
        assertEq(market.reputationOf(providers[0]).missed + market.reputationOf(providers[0]).slashed, 0, "no slash");
    }

    /// A replica that cannot run the job (its data never arrived) leaves before committing and
    /// keeps its stake; the job goes on with the replica still selected.
    function test_attack_aReplicaThatCannotRunTheJobLeavesWithoutASlash() public {
        uint256 jobId = post(2);
        for (uint256 i; i < 2; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        market.selectReplicas(jobId, trail(jobId));
        uint96 stakeBefore = market.providerOf(providers[1]).stake;
        Trail memory t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(NotYourReplica.selector, jobId, uint256(1)));
        market.leaveJob(jobId, 1, t); // nobody leaves for another
        vm.prank(providers[1]);
        market.leaveJob(jobId, 1, t);
        assertEq(market.jobOf(jobId).selected, 0x1, "one replica left");
        commitAs(jobId, 0, providers[0], ROOT, 5);
        t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(AlreadyCommitted.selector, jobId, uint256(0)));
        market.leaveJob(jobId, 0, t); // a committed replica cannot walk away from its result
        revealAs(jobId, 0, providers[0], ROOT, 5);
        finalize(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "the remaining replica settles");
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * 5, "and is paid");
        assertEq(market.providerOf(providers[1]).stake, stakeBefore, "the one that left keeps its stake");
        assertEq(market.reputationOf(providers[1]).left, 1, "leaving is on its record");
        assertEq(market.providerOf(providers[1]).activeJobs, 0, "and its stake is free again");
    }

    /// Every selected replica leaves: the buyer gets its escrow back, nobody is slashed.
    function test_attack_whenEveryReplicaLeavesTheBuyerIsRefunded() public {
        uint256 jobId = post(1);
        claimAs(jobId, providers[0]);
        vm.warp(vm.getBlockTimestamp() + 11);
        market.selectReplicas(jobId, trail(jobId));
        vm.prank(providers[0]);
        market.leaveJob(jobId, 0, trail(jobId));
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Refunded), "refunded");
        assertEq(market.totalEscrow(), 0, "no escrow stuck");
    }

    // ---- 2. claim flooding and a steered draw ----------------------------------------------------------

    /// One address claimed a job over and over and took every claim slot.
    function test_attack_oneProviderCannotTakeEveryClaimSlot() public {
        uint256 jobId = post(3);
        claimAs(jobId, providers[0]);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(ClaimOutOfOrder.selector, jobId, jobId));
        market.claim(jobId);
        assertEq(market.jobOf(jobId).claimants, 1, "one slot taken");
    }

    /// Sybils whose registrations do not meet a job's requirements filled its claim slots (a
    /// claim checks standing, not requirements: those travel in the trail), so the fitting
    /// providers could not claim and the job was refunded, again and again, for the price of a
    /// minimal stake locked for a while. Now a claim that does not fit is slashed at the draw:
    /// at least the stake a fitting claim needs, all to the treasury. A fitting claimant among
    /// them is drawn and keeps its stake.
    function test_attack_claimsThatDoNotFitTheJobCostTheirStake() public {
        JobParams memory p = params(1);
        p.requirements.minComputeUnits = CU + 50; // no fixture provider registered that much
        uint256 jobId = postWith(p);
        address fitting = vm.addr(0xF17);
        grid.transfer(fitting, 10 * uint256(STAKE));
        vm.startPrank(fitting);
        grid.approve(address(market), type(uint256).max);
        market.register(keccak256("NVIDIA H100 80GB HBM3"), 81_559, CU + 50, 3, 0xff, STAKE * 2, address(0));
        vm.stopPrank();
        for (uint256 i; i < 3; ++i) claimAs(jobId, providers[i]);
        claimAs(jobId, fitting);
        uint256 treasuryBefore = market.stakeCredit(treasury);
        vm.warp(vm.getBlockTimestamp() + 11);
        market.selectReplicas(jobId, trail(jobId));
        assertEq(market.jobOf(jobId).selected, 1 << 3, "the fitting claimant is drawn");
        uint256 floor = MIN_STAKE_PER_UNIT * (CU + 50);
        for (uint256 i; i < 3; ++i) {
            assertEq(market.providerOf(providers[i]).stake, STAKE - floor, "an unfit claim costs its stake");
            assertEq(market.reputationOf(providers[i]).slashed, 1, "counted as an offence");
        }
        assertEq(market.stakeCredit(treasury) - treasuryBefore, 3 * floor, "all of it to the treasury");
        assertEq(market.providerOf(fitting).stake, STAKE * 2, "the fitting claimant keeps its stake");
    }

    /// The flooder starts unstaking after it claims, so that at the draw it is no longer in
    /// standing and would be skipped rather than slashed: an unfit claim is slashed all the same.
    function test_attack_unstakingAfterAnUnfitClaimDoesNotEscapeItsSlash() public {
        JobParams memory p = params(1);
        p.requirements.minComputeUnits = CU + 50;
        uint256 jobId = postWith(p);
        claimAs(jobId, providers[0]);
        vm.prank(providers[0]);
        market.requestUnstake();
        vm.warp(vm.getBlockTimestamp() + 11);
        market.selectReplicas(jobId, trail(jobId));
        assertEq(market.providerOf(providers[0]).stake, STAKE - MIN_STAKE_PER_UNIT * (CU + 50), "slashed");
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Refunded), "nobody fit: refunded");
    }

    /// A claimant adds a huge stake after claiming (in the block that selects, say): the draw
    /// used the stake at selection, so it was picked every time. Its weight is now fixed at the
    /// claim, and over many draws it is picked about as often as its equals.
    function test_attack_stakeAddedAfterClaimingDoesNotSteerTheDraw() public {
        address attacker = providers[3];
        grid.transfer(attacker, 1e27);
        uint256[] memory jobs = new uint256[](16);
        for (uint256 round; round < 16; ++round) {
            jobs[round] = post(1);
            for (uint256 i; i < 4; ++i) claimAs(jobs[round], providers[i]);
        }
        vm.prank(attacker);
        market.addStake(uint96(1e25)); // 10,000x everybody else's stake, after claiming
        vm.warp(vm.getBlockTimestamp() + 11);
        uint256 picked;
        for (uint256 round; round < 16; ++round) {
            vm.prevrandao(keccak256(abi.encode("randomness", round)));
            market.selectReplicas(jobs[round], trail(jobs[round]));
            if (market.jobOf(jobs[round]).selected == 1 << 3) picked++;
        }
        assertLt(picked, 12, "a stake added after claiming does not win the draw");
    }

    // ---- 3. the majority of the replicas actually selected ---------------------------------------------

    /// k = 3 but a single eligible provider claimed: its honest result went to dispute (one
    /// vote is not a majority of three) and went unpaid.
    function test_attack_fewerClaimantsThanKStillSettleByTheSelectedMajority() public {
        uint256 jobId = post(3);
        claimAs(jobId, providers[0]);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[0], ROOT, 5);
        revealAs(jobId, 0, providers[0], ROOT, 5);
        finalize(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "settled, not disputed");
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * 5, "the honest replica is paid");
    }

    // ---- 4. challenges that cost nothing ---------------------------------------------------------------

    function _revealedJob(bytes32[3] memory roots) internal returns (uint256 jobId) {
        jobId = post(3);
        for (uint256 i; i < 3; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        for (uint256 i; i < 3; ++i) commitAs(jobId, i, providers[i], roots[i], 5);
        for (uint256 i; i < 3; ++i) revealAs(jobId, i, providers[i], roots[i], 5);
    }

    function _challenge(uint256 jobId) internal returns (uint256 bond) {
        Trail memory t = trail(jobId);
        bond = market.challengeBondOf(jobId, t);
        vm.prank(buyer);
        market.challenge(jobId, t, new Reveal[](0)); // from the chain alone
    }

    /// A k = 2 job: providers[0] reveals the honest claim, providers[1] (the buyer's sybil) a
    /// corrupt trace with `sybilUnits`; a tie, the court. The sybil steers the bisection where it
    /// likes; the jury re-runs that step and the honest trace is right there, as everywhere.
    function _courtTie(uint64 sybilUnits) internal returns (uint256 jobId) {
        Tree memory honest = traceOf(8, 5, 8);
        Tree memory sybil = traceOf(8, sybilUnits, 3);
        jobId = post(2);
        claimAs(jobId, providers[0]);
        claimAs(jobId, providers[1]);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[0], claimRoot(honest), 5);
        commitAs(jobId, 1, providers[1], claimRoot(sybil), sybilUnits);
        revealAs(jobId, 0, providers[0], claimRoot(honest), 5);
        revealAs(jobId, 1, providers[1], claimRoot(sybil), sybilUnits);
        vm.warp(trail(jobId).terms.revealDeadline + 61);
        finalize(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Disputed), "a tie: the court");
        bisectTo(jobId, honest, 5, providers[1]);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, 5));
        vm.warp(uint256(market.disputeOf(jobId).deadline) + 1);
        advance(jobId); // the buyer never accepts: anyone settles after its check window
    }

    /// The buyer's own sybil dissents from the one honest replica (k = 2): a tie, and a buyer
    /// refunded when nobody ruled kept the honest result for free. Now the tie is played out:
    /// the sybil loses its game and is slashed, the honest replica is paid, the buyer pays for
    /// the work it received.
    function test_attack_aBuyerCannotKeepResultsFreeByMakingATie() public {
        uint256 jobId = _courtTie(5);
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * 5, "the honest replica is paid");
        assertEq(market.reputationOf(providers[1]).slashed, 1, "the sybil is slashed");
        uint256 escrow = UNIT_PAY * MAX_WU * 2 * 10_250 / 10_000;
        uint256 paid = UNIT_PAY * 5;
        assertEq(market.accountOf(buyer).balance, escrow - paid - paid * 250 / 10_000, "the buyer paid for the work");
        assertEq(market.totalEscrow(), 0, "nothing stuck");
        jobId;
    }

    /// The sybil forces the tie reporting no work at all (the review's first rule paid the
    /// honest replica what the sybil reported). The honest replica is paid its own work.
    function test_attack_aSybilInATieCannotSetTheHonestReplicasPay() public {
        _courtTie(1);
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * 5, "the honest replica is paid its work");
        assertEq(market.accountOf(providers[1]).balance, 0, "the sybil nothing");
    }

    /// The buyer challenges an honest, unanimous result hoping to be refunded (when nobody ruled
    /// it used to be: results for free). The replicas defend, the jury upholds the step the buyer
    /// picked, the buyer loses its bond and the replicas are paid.
    function test_attack_aChallengeOfAnHonestResultCostsTheBuyerItsBond() public {
        Tree memory honest = traceOf(8, 5, 8);
        bytes32 r = claimRoot(honest);
        uint256 jobId = _revealedJob([r, r, r]);
        uint256 usdBefore = usd.balanceOf(buyer);
        uint256 bond = _challenge(jobId);
        assertEq(bond, (UNIT_PAY * MAX_WU * 3 * 10_250 / 10_000) / 10, "10% of the escrow");
        assertEq(usdBefore - usd.balanceOf(buyer), bond, "the bond is pulled");
        bisectTo(jobId, honest, 6, buyer);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, 6));
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "the majority stands");
        uint256 toJurors = (bond * 5_000 / 10_000) / 5 * 5;
        for (uint256 i; i < 3; ++i) {
            assertEq(
                market.accountOf(providers[i]).balance, UNIT_PAY * 5 + (bond - toJurors) / 3, "pay and bond share"
            );
        }
        uint256 escrow = UNIT_PAY * MAX_WU * 3 * 10_250 / 10_000;
        uint256 paid = UNIT_PAY * 5 * 3;
        assertEq(market.accountOf(buyer).balance, escrow - paid - paid * 250 / 10_000, "no bond back");
        assertEq(market.totalEscrow(), 0, "nothing stuck");
    }

    /// A rightful challenge (the majority was wrong) returns the bond and slashes the majority.
    function test_attack_aRightfulChallengeGetsItsBondBack() public {
        Tree memory honest = traceOf(8, 5, 8);
        Tree memory bad = traceOf(8, 5, 2);
        uint256 jobId = _revealedJob([claimRoot(bad), claimRoot(bad), claimRoot(honest)]);
        uint256 bond = _challenge(jobId);
        uint256 before = market.accountOf(buyer).balance;
        bisectTo(jobId, bad, 2, buyer);
        seatJury(jobId, 5);
        voteAll(jobId, truth(honest, 2));
        assertEq(market.accountOf(buyer).balance - before, bond, "the bond comes back");
        assertEq(market.reputationOf(providers[0]).slashed, 1, "the wrong majority is slashed");
        assertEq(market.reputationOf(providers[1]).slashed, 1, "the wrong majority is slashed");
    }

    /// A sybil drawn beside an honest replica reveals the right root with the maximum work units,
    /// ahead of the honest reveal: a tie of claims (root, units). The arbiter once took the units
    /// of the first reveal and slashed the honest replica. Now the sybil's claim defends first and
    /// cannot: its root commits to the trace's flops, which are not the units it reported.
    function test_attack_aFrontRunnerWithInflatedUnitsCannotGetTheHonestReplicaSlashed() public {
        Tree memory honestTrace = traceOf(8, 5, 8);
        bytes32 root = claimRoot(honestTrace);
        uint256 jobId = post(2);
        address sybil = providers[0];
        address honest = providers[1];
        claimAs(jobId, sybil);
        claimAs(jobId, honest);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, sybil, root, MAX_WU);
        commitAs(jobId, 1, honest, root, 5);
        revealAs(jobId, 0, sybil, root, MAX_WU);
        revealAs(jobId, 1, honest, root, 5);
        vm.warp(trail(jobId).terms.revealDeadline + 61);
        finalize(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Disputed), "one vote each: the court");
        uint96 honestStake = market.providerOf(honest).stake;
        vm.expectRevert(abi.encodeWithSelector(TraceMismatch.selector, jobId));
        openTraceOf(jobId, honestTrace);
        vm.warp(uint256(market.disputeOf(jobId).deadline) + 1);
        advance(jobId);
        vm.warp(uint256(market.disputeOf(jobId).deadline) + 1);
        advance(jobId);
        assertEq(market.providerOf(honest).stake, honestStake, "the honest replica keeps its stake");
        assertEq(market.accountOf(honest).balance, UNIT_PAY * 5, "and is paid for the true work");
        assertEq(market.accountOf(sybil).balance, 0, "the inflated claim is not paid");
        assertEq(market.reputationOf(sybil).slashed, 1, "but slashed");
    }

    // ---- 8. colluders who keep the last reveal from the buyer --------------------------------------

    /// Colluding replicas reveal on chain themselves instead of handing the reveals to the buyer:
    /// the last reveal settled the job before the buyer could check or challenge. Now it waits for
    /// the buyer, who challenges from the chain alone.
    function test_attack_collidersRevealingThemselvesCannotSettleBeforeTheBuyerChecks() public {
        uint256 jobId = _revealedJob([BAD, BAD, BAD]);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Running), "not settled by the colluders");
        Trail memory t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(NotFinalizable.selector, jobId));
        market.finalize(jobId, t);
        _challenge(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Disputed), "the buyer's challenge lands");
    }

    /// The buyer's window to challenge closes: it cannot hold a job hostage after it.
    function test_attack_aBuyerCannotChallengeAfterItsCheckWindow() public {
        uint256 jobId = _revealedJob([ROOT, ROOT, ROOT]);
        Trail memory t = trail(jobId);
        vm.warp(uint256(t.terms.revealDeadline) + market.checkWindow() + 1);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ChallengeWindowClosed.selector, jobId));
        market.challenge(jobId, t, new Reveal[](0));
        finalizeAs(providers[0], jobId);
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * 5, "the replicas are paid");
    }

    /// A challenge before every replica revealed (while the others still may) is refused: it would
    /// count them as no-shows.
    function test_attack_aChallengeCannotCutTheRevealWindowShort() public {
        uint256 jobId = post(3);
        for (uint256 i; i < 3; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        for (uint256 i; i < 3; ++i) commitAs(jobId, i, providers[i], ROOT, 5);
        revealAs(jobId, 0, providers[0], ROOT, 5);
        Trail memory t = trail(jobId);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ChallengeIncomplete.selector, jobId));
        market.challenge(jobId, t, new Reveal[](0));
    }
}
