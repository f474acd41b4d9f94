// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Job, JobParams, JobState, Requirements, Reveal, SignedCommit, Trail} from "../../src/libraries/Types.sol";

contract MarketTest is Fixture {
    bytes32 internal constant ROOT = keccak256("the right result");
    bytes32 internal constant BAD = keccak256("a corrupted result");

    function setUp() public override {
        super.setUp();
        registerAll(5);
    }

    // ---- posting --------------------------------------------------------------------------------

    function test_post_escrowsPaymentForKReplicasPlusFee() public {
        uint256 before = usd.balanceOf(buyer);
        uint256 jobId = post(3);
        (uint256 payment, uint256 fee) = market.escrowFor(PRICE, MAX_WU, 3);
        assertEq(payment, UNIT_PAY * MAX_WU * 3, "payment for 3 replicas");
        assertEq(fee, payment * 250 / 10_000, "2.5% fee");
        assertEq(usd.balanceOf(buyer), before - payment - fee, "escrow pulled");
        assertEq(market.totalEscrow(), payment + fee, "escrow recorded");
        Job memory j = market.jobOf(jobId);
        assertEq(uint256(j.state), uint256(JobState.Open), "open");
        assertEq(j.buyer, buyer, "buyer");
        assertEq(jobId, 1, "ids start at 1");
    }

    /// Issue #23 point 6: prices people recognize. A price is in millionths of a base unit per
    /// work unit, so an H100 hour (about $2.49 for 24.9 TFLOP/s of deterministic GEMM: 27,800 per
    /// work unit) is expressible; a whole base unit per work unit priced that hour at about $90.
    /// A replica's pay rounds up to a whole base unit, and the escrow rounds alike per replica, so
    /// it always covers what the replicas are paid.
    function test_pricesBelowABaseUnitPerWorkUnit_roundUpPerReplicaAndTheEscrowCoversThem() public {
        (uint256 payment,) = market.escrowFor(27_800, 89_665_200, 1); // one H100 hour of work units
        assertEq(payment, 2_492_693, "an H100 hour: $2.49");
        (payment,) = market.escrowFor(1, 1, 3);
        assertEq(payment, 3, "a millionth of a base unit for one unit: one base unit each");
        // 1.5 base units per work unit, one unit revealed: each replica is paid 2, within its escrow.
        JobParams memory p = params(3);
        p.pricePerUnit = 1_500_000; // 1.5 base units per work unit
        p.maxWorkUnits = 3;
        uint256 jobId = postWith(p);
        (uint256 escrowed,) = market.escrowFor(p.pricePerUnit, 3, 3);
        assertEq(escrowed, 15, "ceil(4.5) per replica");
        for (uint256 i; i < 3; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        for (uint256 i; i < 3; ++i) commitAs(jobId, i, providers[i], ROOT, 1);
        for (uint256 i; i < 3; ++i) revealAs(jobId, i, providers[i], ROOT, 1);
        finalize(jobId);
        for (uint256 i; i < 3; ++i) {
            assertEq(market.accountOf(providers[i]).balance, 2, "1.5 rounds up to 2 for the work revealed");
        }
    }

    function _expectPostRevert(JobParams memory p, bytes memory err) internal {
        uint256 count = market.jobCount();
        uint256 escrow = market.totalEscrow();
        vm.prank(buyer);
        vm.expectRevert(err);
        market.postJob(p);
        assertEq(market.jobCount(), count, "no job recorded");
        assertEq(market.totalEscrow(), escrow, "no escrow moved");
    }

    function test_post_rejectsBadInput() public {
        JobParams memory p = params(0);
        _expectPostRevert(p, abi.encodeWithSelector(InvalidReplicas.selector, uint256(0)));
        p = params(16);
        _expectPostRevert(p, abi.encodeWithSelector(InvalidReplicas.selector, uint256(16)));
        p = params(3);
        p.pricePerUnit = 0;
        _expectPostRevert(p, abi.encodeWithSelector(ZeroPrice.selector));
        p = params(3);
        p.maxWorkUnits = 0;
        _expectPostRevert(p, abi.encodeWithSelector(ZeroWorkUnits.selector));
        p = params(3);
        p.claimDeadline = uint40(vm.getBlockTimestamp());
        _expectPostRevert(p, abi.encodeWithSelector(BadDeadlines.selector));
        p = params(3);
        p.commitDeadline = p.claimDeadline;
        _expectPostRevert(p, abi.encodeWithSelector(BadDeadlines.selector));
        p = params(3);
        p.revealDeadline = p.commitDeadline - 1;
        _expectPostRevert(p, abi.encodeWithSelector(BadDeadlines.selector));
        p = params(3);
        p.pricePerUnit = type(uint96).max;
        p.maxWorkUnits = type(uint64).max;
        _expectPostRevert(p, abi.encodeWithSelector(InvalidParameter.selector, "escrow"));
        p = params(3);
        p.requirements.workloadClass = 8;
        _expectPostRevert(p, abi.encodeWithSelector(InvalidParameter.selector, "workloadClass"));
    }

    // ---- claiming -------------------------------------------------------------------------------

    function test_claim_rejectsUnknownJobAndClosedWindow() public {
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(UnknownJob.selector, uint256(9)));
        market.claim(9);
        uint256 jobId = post(1);
        vm.warp(vm.getBlockTimestamp() + 11);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(ClaimWindowClosed.selector, jobId));
        market.claim(jobId);
    }

    function test_claim_rejectsAnUnregisteredProvider() public {
        uint256 jobId = post(1);
        address stranger = address(0xDEAD);
        bytes32 trailBefore = market.trailOf(jobId);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotEligible.selector, jobId, stranger));
        market.claim(jobId);
        assertEq(market.jobOf(jobId).claimants, 0, "no claimant recorded");
        assertEq(market.trailOf(jobId), trailBefore, "trail unchanged");
    }

    function test_claimsGoInJobOrder_onePerJob() public {
        uint256 first = post(2);
        uint256 second = post(2);
        claimAs(second, providers[0]);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(ClaimOutOfOrder.selector, first, second));
        market.claim(first); // an older job after a newer one
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(ClaimOutOfOrder.selector, second, second));
        market.claim(second); // a retry after a lost receipt, say
        assertEq(market.providerOf(providers[0]).activeJobs, 1, "one claim locks the stake");
        claimAs(first, providers[1]);
        assertEq(market.providerOf(providers[0]).lastJobOrUnstakeAt, second, "the last job it claimed");
    }

    function test_selection_skipsClaimantsThatMissTheRequirements() public {
        JobParams memory p = params(1);
        p.requirements = Requirements({minMemoryMiB: 200_000, minComputeUnits: 0, regionMask: 0, workloadClass: 0});
        uint256 tooBig = postWith(p);
        claimAs(tooBig, providers[0]);
        vm.warp(vm.getBlockTimestamp() + 11);
        market.selectReplicas(tooBig, trail(tooBig));
        assertEq(uint256(market.jobOf(tooBig).state), uint256(JobState.Refunded), "nobody eligible: refunded");
        assertEq(market.providerOf(providers[0]).activeJobs, 0, "the claimant is released");
        p = params(1);
        p.requirements = Requirements({minMemoryMiB: 0, minComputeUnits: 0, regionMask: 1 << 5, workloadClass: 0});
        uint256 otherRegion = postWith(p);
        claimAs(otherRegion, providers[0]); // region 3
        vm.warp(vm.getBlockTimestamp() + 11);
        finalize(otherRegion);
        assertEq(uint256(market.jobOf(otherRegion).state), uint256(JobState.Refunded), "wrong region: refunded");
        assertEq(market.accountOf(buyer).balance, 2 * (UNIT_PAY * MAX_WU * 1025 / 1000), "both escrows back");
    }

    function test_aStaleOrForgedTrail_isRefusedAndChangesNothing() public {
        uint256 jobId = post(2);
        claimAs(jobId, providers[0]);
        Trail memory stale = trail(jobId);
        claimAs(jobId, providers[1]);
        vm.warp(vm.getBlockTimestamp() + 11);
        vm.expectRevert(abi.encodeWithSelector(TrailMismatch.selector, jobId));
        market.selectReplicas(jobId, stale);
        Trail memory forged = trail(jobId);
        forged.terms.pricePerUnit = PRICE * 10; // claim a higher pay
        bytes32 c = keccak256(abi.encode(ROOT, uint64(5), salt(providers[0]), providers[0]));
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(TrailMismatch.selector, jobId));
        market.commit(jobId, 0, c, forged);
        forged = trail(jobId);
        forged.claimants[1] = providers[4]; // swap a co-verifier
        vm.expectRevert(abi.encodeWithSelector(TrailMismatch.selector, jobId));
        market.selectReplicas(jobId, forged);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Open), "still open");
        commitAs(jobId, 0, providers[0], ROOT, 5); // the true trail works
        Trail memory lying = trail(jobId);
        lying.commits[0].commitment = keccak256("another commitment");
        vm.prank(providers[1]);
        vm.expectRevert(abi.encodeWithSelector(TrailMismatch.selector, jobId));
        market.commit(jobId, 1, c, lying);
    }

    function test_claim_rejectsAnUnderStakedProvider() public {
        // Slash providers[0] by letting it miss a job: its stake falls below CU * minimum.
        uint256 first = post(1);
        claimAs(first, providers[0]);
        vm.warp(vm.getBlockTimestamp() + 201);
        finalize(first);
        assertTrue(market.providerOf(providers[0]).stake < MIN_STAKE_PER_UNIT * CU * 10, "slashed");
        // Raise the bar: a fresh provider registered at exactly the minimum, then slashed once.
        address thin = address(0x5151);
        grid.transfer(thin, MIN_STAKE_PER_UNIT * CU);
        vm.startPrank(thin);
        grid.approve(address(market), type(uint256).max);
        market.register(keccak256("gpu"), 81_559, CU, 3, 0xff, uint96(MIN_STAKE_PER_UNIT * CU), address(0));
        vm.stopPrank();
        uint256 second = post(1);
        claimAs(second, thin);
        vm.warp(vm.getBlockTimestamp() + 201);
        finalize(second);
        uint256 third = post(1);
        vm.prank(thin);
        vm.expectRevert(abi.encodeWithSelector(NotEligible.selector, third, thin));
        market.claim(third);
    }

    // ---- the honest path --------------------------------------------------------------------------

    function test_honestJob_paysAllKAndRefundsUnusedEscrow() public {
        uint64 wu = 600;
        uint256 before = usd.balanceOf(buyer);
        uint256 jobId = runJob(3, same(3, ROOT), wu);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "finalized");
        assertEq(market.agreedRoot(jobId), ROOT, "agreed root");
        uint256 pay = UNIT_PAY * wu;
        for (uint256 i; i < 3; ++i) {
            assertEq(market.accountOf(providers[i]).balance, pay, "each replica paid for its work");
            assertEq(market.reputationOf(providers[i]).agreed, 1, "agreement recorded");
        }
        uint256 fee = 3 * pay * 250 / 10_000;
        assertEq(market.epochFees(market.currentEpoch()), fee, "the fee waits in its epoch");
        assertEq(market.uncollectedFees(), fee - fee * 5_000 / 10_000, "the treasury's share of it (less the rebate)");
        vm.prank(buyer);
        market.withdraw();
        assertEq(before - usd.balanceOf(buyer), 3 * pay + fee, "the buyer paid exactly work + fee");
        assertEq(market.totalEscrow(), 0, "no escrow left");
        vm.expectRevert(NothingToWithdraw.selector);
        market.collectFees(10); // the epoch is not over
        vm.warp(vm.getBlockTimestamp() + EPOCH);
        market.collectFees(10); // anyone
        assertEq(usd.balanceOf(treasury), fee - fee * 5_000 / 10_000, "the fee reaches the treasury, less the rebate");
        assertEq(market.uncollectedFees(), 0, "collected");
        assertEq(market.feesCollectedThrough(), 1, "through epoch 0");
        assertEq(usd.balanceOf(address(market)), market.totalBalances(), "only the workers' balances remain");
    }

    function test_lastReveal_waitsForTheBuyersCheck_thenFinalizeRefuses() public {
        uint256 jobId = post(2);
        for (uint256 i; i < 2; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        for (uint256 i; i < 2; ++i) commitAs(jobId, i, providers[i], ROOT, 300);
        for (uint256 i; i < 2; ++i) revealAs(jobId, i, providers[i], ROOT, 300);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Running), "the buyer checks first");
        Trail memory t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(NotFinalizable.selector, jobId));
        market.finalize(jobId, t); // a replica cannot cut the buyer's check short
        vm.warp(uint256(t.terms.revealDeadline) + market.checkWindow() + 1);
        finalizeAs(providers[0], jobId); // after the check window anyone settles
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "settled");
        vm.expectRevert(abi.encodeWithSelector(WrongState.selector, jobId, JobState.Finalized));
        finalize(jobId);
    }

    function test_buyersLastReveal_settlesAtOnce() public {
        uint256 jobId = post(2);
        for (uint256 i; i < 2; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        for (uint256 i; i < 2; ++i) commitAs(jobId, i, providers[i], ROOT, 300);
        revealAs(jobId, 0, providers[0], ROOT, 300);
        Reveal[] memory last = new Reveal[](1);
        last[0] = Reveal({index: 1, resultRoot: ROOT, workUnits: 300, salt: salt(providers[1])});
        revealBatchAs(buyer, jobId, last); // the buyer relays the last reveal: it accepts
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "settled by the buyer's reveal");
    }

    function test_commitSigned_andRevealBatch_settleAJobInTwoTransactions() public {
        uint256 jobId = post(3);
        for (uint256 i; i < 3; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        SignedCommit[] memory commits = new SignedCommit[](3);
        Reveal[] memory reveals = new Reveal[](3);
        for (uint256 i; i < 3; ++i) {
            commits[i] = signedCommit(jobId, i, i, ROOT, 450);
            reveals[i] = Reveal({index: i, resultRoot: ROOT, workUnits: 450, salt: salt(providers[i])});
        }
        commitSignedAs(address(0xCAFE), jobId, commits); // anyone may carry signed commitments
        revealBatchAs(buyer, jobId, reveals); // the buyer relays the reveals and accepts
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "settled");
        assertEq(market.agreedRoot(jobId), ROOT, "agreed root");
        for (uint256 i; i < 3; ++i) {
            assertEq(market.accountOf(providers[i]).balance, UNIT_PAY * 450, "each replica paid");
        }
    }

    function test_commitSigned_rejectsAForeignOrReplayedSignature() public {
        uint256 jobId = post(2);
        claimAs(jobId, providers[0]);
        claimAs(jobId, providers[1]);
        vm.warp(vm.getBlockTimestamp() + 11);
        SignedCommit[] memory commits = new SignedCommit[](1);
        commits[0] = signedCommit(jobId, 1, 0, ROOT, 5); // provider 0 signs for replica 1
        Trail memory t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(BadCommitSignature.selector, jobId, uint256(1)));
        market.commitSigned(jobId, t, commits);
        commits[0] = signedCommit(jobId, 0, 0, ROOT, 5);
        commits[0].commitment = keccak256("tampered");
        vm.expectRevert(abi.encodeWithSelector(BadCommitSignature.selector, jobId, uint256(0)));
        market.commitSigned(jobId, t, commits);
        commits[0] = signedCommit(jobId, 0, 0, ROOT, 5);
        commitSignedAs(address(this), jobId, commits);
        bytes32 trailBefore = market.trailOf(jobId);
        t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(AlreadyCommitted.selector, jobId, uint256(0)));
        market.commitSigned(jobId, t, commits);
        assertEq(market.trailOf(jobId), trailBefore, "state unchanged by the refused calls");
    }

    function test_corruptReplica_isSlashedAndTheMajorityPaid() public {
        bytes32[] memory roots = same(3, ROOT);
        roots[2] = BAD;
        uint96 stakeBefore = market.providerOf(providers[2]).stake;
        uint256 jobId = runJob(3, roots, 500);
        assertEq(market.agreedRoot(jobId), ROOT, "the majority's root wins");
        assertEq(market.accountOf(providers[2]).balance, 0, "the dissenter is not paid");
        uint256 slashed = uint256(stakeBefore) / 10;
        assertEq(market.providerOf(providers[2]).stake, stakeBefore - slashed, "10% slashed");
        assertEq(market.stakeCredit(buyer), slashed / 2, "half to the buyer");
        assertEq(market.stakeCredit(treasury), slashed - slashed / 2, "the rest to the treasury");
        assertEq(market.reputationOf(providers[2]).slashed, 1, "slash recorded");
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * 500, "honest replica paid");
        vm.prank(buyer);
        market.withdrawStakeCredit();
        assertEq(grid.balanceOf(buyer), slashed / 2, "buyer withdraws its share of the slash");
    }

    function test_silentReplica_isSlashedForMissingTheDeadline() public {
        uint256 jobId = post(3);
        for (uint256 i; i < 3; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[0], ROOT, 500);
        commitAs(jobId, 1, providers[1], ROOT, 500);
        Trail memory t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(RevealNotOpen.selector, jobId));
        market.reveal(jobId, 0, ROOT, 500, salt(providers[0]), t);
        vm.warp(vm.getBlockTimestamp() + 100); // past the commit deadline: reveals open
        revealAs(jobId, 0, providers[0], ROOT, 500);
        revealAs(jobId, 1, providers[1], ROOT, 500);
        t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(NotFinalizable.selector, jobId));
        market.finalize(jobId, t);
        vm.warp(vm.getBlockTimestamp() + 100);
        finalize(jobId);
        assertEq(market.reputationOf(providers[2]).missed, 1, "missed deadline recorded");
        assertEq(market.accountOf(providers[0]).balance, UNIT_PAY * 500, "2 of 3 is a majority");
    }

    function test_unclaimedJob_isRefundedInFull() public {
        uint256 before = usd.balanceOf(buyer);
        uint256 jobId = post(3);
        Trail memory t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(NotFinalizable.selector, jobId));
        market.finalize(jobId, t);
        vm.warp(vm.getBlockTimestamp() + 11);
        finalize(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Refunded), "refunded");
        vm.prank(buyer);
        market.withdraw();
        assertEq(usd.balanceOf(buyer), before, "every unit back");
    }

    function test_selectReplicas_persistsTheSelectionForEveryClaimant() public {
        uint256 jobId = post(1);
        claimAs(jobId, providers[0]);
        claimAs(jobId, providers[1]);
        Trail memory t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(ClaimWindowOpen.selector, jobId));
        market.selectReplicas(jobId, t);
        vm.warp(vm.getBlockTimestamp() + 11);
        vm.prevrandao(bytes32(uint256(7)));
        market.selectReplicas(jobId, t); // anyone
        uint32 mask = market.jobOf(jobId).selected;
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Running), "running");
        assertTrue(mask == 1 || mask == 2, "exactly one of two selected");
        uint256 chosen = mask == 1 ? 0 : 1;
        uint256 other = 1 - chosen;
        // The one left out is refused, and the refusal does not undo or re-roll the selection.
        vm.prevrandao(bytes32(uint256(8)));
        vm.prank(providers[other]);
        vm.expectRevert(abi.encodeWithSelector(NotSelected.selector, jobId, other));
        market.commit(jobId, other, keccak256("x"), t);
        assertEq(market.jobOf(jobId).selected, mask, "selection unchanged");
        commitAs(jobId, chosen, providers[chosen], ROOT, 5);
        t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(WrongState.selector, jobId, JobState.Running));
        market.selectReplicas(jobId, t);
    }

    function test_moreClaimantsThanReplicas_selectsExactlyK() public {
        uint256 jobId = post(2);
        for (uint256 i; i < 5; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        vm.prevrandao(bytes32(uint256(42)));
        // Whoever commits first triggers selection; unselected claimants are refused.
        uint256 selectedCount;
        for (uint256 i; i < 5; ++i) {
            bytes32 c = keccak256(abi.encode(ROOT, uint64(1), salt(providers[i]), providers[i]));
            vm.prank(providers[i]);
            try market.commit(jobId, i, c, trail(jobId)) {
                bookCommit(jobId, i, c);
                ++selectedCount;
            } catch (bytes memory err) {
                assertEq(keccak256(err), keccak256(abi.encodeWithSelector(NotSelected.selector, jobId, i)), "NotSelected");
            }
        }
        assertEq(selectedCount, 2, "exactly k replicas selected");
    }

    // ---- commit / reveal errors ---------------------------------------------------------------------

    function test_commit_rejectsDoubleCommitStrangersAndLateCommits() public {
        uint256 jobId = post(2);
        claimAs(jobId, providers[0]);
        claimAs(jobId, providers[1]);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[0], ROOT, 1);
        Trail memory t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(AlreadyCommitted.selector, jobId, uint256(0)));
        market.commit(jobId, 0, bytes32(uint256(1)), t);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(NotYourReplica.selector, jobId, uint256(1)));
        market.commit(jobId, 1, bytes32(uint256(1)), t);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(NotSelected.selector, jobId, uint256(7)));
        market.commit(jobId, 7, bytes32(uint256(1)), t);
        vm.warp(vm.getBlockTimestamp() + 100);
        vm.prank(providers[1]);
        vm.expectRevert(abi.encodeWithSelector(CommitWindowClosed.selector, jobId));
        market.commit(jobId, 1, bytes32(uint256(1)), t);
    }

    function test_commit_beforeTheClaimWindowCloses_isRefused() public {
        uint256 jobId = post(1);
        claimAs(jobId, providers[0]);
        Trail memory t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(WrongState.selector, jobId, JobState.Open));
        market.commit(jobId, 0, bytes32(uint256(1)), t);
    }

    function test_reveal_rejectsMismatchUncommittedOverMaxAndLate() public {
        uint256 jobId = post(2);
        claimAs(jobId, providers[0]);
        claimAs(jobId, providers[1]);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[0], ROOT, 5);
        commitAs(jobId, 1, providers[1], ROOT, 5);
        Trail memory t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(CommitmentMismatch.selector, jobId, uint256(0)));
        market.reveal(jobId, 0, BAD, 5, salt(providers[0]), t);
        revealAs(jobId, 0, providers[0], ROOT, 5);
        t = trail(jobId);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(NotCommitted.selector, jobId, uint256(0)));
        market.reveal(jobId, 0, ROOT, 5, salt(providers[0]), t);
        vm.warp(vm.getBlockTimestamp() + 200);
        vm.prank(providers[1]);
        vm.expectRevert(abi.encodeWithSelector(RevealWindowClosed.selector, jobId));
        market.reveal(jobId, 1, ROOT, 5, salt(providers[1]), t);
    }

    // ---- disputes: test/unit/Court.t.sol ------------------------------------------------------

    // ---- fuzz -------------------------------------------------------------------------------------

    /// Any k, price, work and deadlines: the buyer pays exactly work + fee, providers get their work.
    function testFuzz_lifecycleConservesPayment(uint8 k, uint96 price, uint64 maxWu, uint64 wu, uint32 claimWindow)
        public
    {
        k = uint8(bound(k, 1, 5));
        price = uint96(bound(price, 1, 1e15));
        maxWu = uint64(bound(maxWu, 1, 1e9));
        wu = uint64(bound(wu, 0, maxWu));
        claimWindow = uint32(bound(claimWindow, 1, 30 days));
        JobParams memory p = params(k);
        p.pricePerUnit = price;
        p.maxWorkUnits = maxWu;
        p.claimDeadline = uint40(vm.getBlockTimestamp() + claimWindow);
        p.commitDeadline = p.claimDeadline + 1 hours;
        p.revealDeadline = p.commitDeadline + 1 hours;
        (uint256 payment, uint256 escrowFee) = market.escrowFor(price, maxWu, k);
        usd.mint(buyer, payment + escrowFee);
        uint256 buyerBefore = usd.balanceOf(buyer);
        uint256 jobId = postWith(p);
        for (uint256 i; i < k; ++i) claimAs(jobId, providers[i]);
        vm.warp(p.claimDeadline + 1);
        for (uint256 i; i < k; ++i) commitAs(jobId, i, providers[i], ROOT, wu);
        for (uint256 i; i < k; ++i) revealAs(jobId, i, providers[i], ROOT, wu);
        finalize(jobId);
        assertEq(uint256(market.jobOf(jobId).state), uint256(JobState.Finalized), "the buyer's finalize settles");
        vm.prank(buyer);
        try market.withdraw() {} catch {}
        uint256 work = payFor(price, wu) * k;
        assertEq(buyerBefore - usd.balanceOf(buyer), work + work * 250 / 10_000, "buyer pays work + fee");
        assertEq(usd.balanceOf(address(market)), market.totalBalances(), "only balances remain");
    }
}
