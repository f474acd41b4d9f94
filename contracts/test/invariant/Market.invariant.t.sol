// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Handler} from "./Handler.sol";
import {Gridmint} from "../../src/Gridmint.sol";
import {Dispute, DisputePhase, Job, JobState, Provider} from "../../src/libraries/Types.sol";

/// @notice The invariants of test/invariant/README.md, checked after every handler call.
contract MarketInvariantTest is Fixture {
    Handler internal handler;

    function setUp() public override {
        super.setUp();
        registerAll(12); // five work, the rest judge disputes too
        enterJuryPool(0, 12);
        handler = new Handler(market, usd, buyer, treasury, providers);
        targetContract(address(handler));
    }

    function targetContract(address target) internal {
        _targets.push(target);
    }

    address[] internal _targets;

    /// forge reads the fuzzing targets from here.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    /// 1. The market's token balances equal what it owes.
    function invariant_balancesEqualObligations() public view {
        uint256 openEscrow;
        for (uint256 i; i < handler.jobCount(); ++i) {
            uint256 jobId = handler.jobIds(i);
            JobState s = market.jobOf(jobId).state;
            if (s == JobState.Open || s == JobState.Running || s == JobState.Disputed) openEscrow += handler.escrowOf(jobId);
            if (s == JobState.Disputed) openEscrow += market.disputeOf(jobId).bond; // a challenge's bond, held
        }
        uint256 balances;
        for (uint256 i; i < handler.accountCount(); ++i) balances += market.accountOf(handler.accountAt(i)).balance;
        balances += market.uncollectedFees();
        // Rewards: settled and not yet claimed, and the rest of each epoch's pool.
        for (uint256 i; i < handler.accountCount(); ++i) balances += market.reputationOf(handler.accountAt(i)).rewards;
        for (uint256 e; e <= market.currentEpoch(); ++e) balances += market.rewardPool(e) - market.epochRewards(e);
        assertEq(openEscrow, market.totalEscrow(), "open escrows = recorded escrow");
        assertEq(balances, market.totalBalances(), "account balances = recorded balances");
        assertEq(usd.balanceOf(address(market)), openEscrow + balances, "payment token = escrows + balances");

        uint256 stakes;
        uint256 credits;
        for (uint256 i; i < handler.accountCount(); ++i) {
            address a = handler.accountAt(i);
            stakes += market.providerOf(a).stake;
            credits += market.stakeCredit(a);
        }
        assertEq(stakes, market.totalStake(), "stakes = recorded stake");
        assertEq(grid.balanceOf(address(market)), stakes + credits, "protocol token = stakes + slash credits");
    }

    /// 2. No job pays out more than it escrowed; no provider is paid twice for one job.
    function invariant_noOverpayment() public view {
        assertEq(handler.overpaidJobs(), 0, "a job credited more than its escrow");
        assertEq(handler.doublePaid(), 0, "a provider was paid twice for one job");
        for (uint256 i; i < handler.jobCount(); ++i) {
            uint256 jobId = handler.jobIds(i);
            JobState s = market.jobOf(jobId).state;
            if (s == JobState.Finalized || s == JobState.Resolved || s == JobState.Refunded) {
                assertEq(
                    handler.settledOut(jobId),
                    handler.escrowOf(jobId) + handler.bondOf(jobId),
                    "a settled job credits exactly its escrow and any challenge bond"
                );
            }
        }
    }

    /// 3. Every job reaches a terminal state once its deadlines pass, whoever moves it on.
    function invariant_everyJobCanEnd() public {
        uint256 snapshot = vm.snapshotState();
        vm.warp(vm.getBlockTimestamp() + 30 days);
        for (uint256 i; i < handler.jobCount(); ++i) {
            uint256 jobId = handler.jobIds(i);
            JobState s = market.jobOf(jobId).state;
            if (s == JobState.Open || s == JobState.Running) {
                market.finalize(jobId, handler.trailOf(jobId));
                s = market.jobOf(jobId).state;
            }
            // Every dispute ends by its deadlines alone: each move not made loses, a jury that
            // nobody sat on leaves the defender; bounded by the games (one per claim) and their moves.
            for (uint256 n; s == JobState.Disputed && n < 100; ++n) {
                Dispute memory g = market.disputeOf(jobId);
                // Never back in time: a later job's windows were measured from 30 days on (an old
                // game's deadline warped to once made a job posted late look unfinalizable).
                uint256 due = uint256(g.deadline) + 2 * uint256(market.moveWindow()) + market.checkWindow() + 1;
                if (due > vm.getBlockTimestamp()) vm.warp(due);
                market.advanceDispute(jobId, handler.trailOf(jobId));
                s = market.jobOf(jobId).state;
            }
            assertTrue(s == JobState.Finalized || s == JobState.Refunded, "terminal state reached");
        }
        assertEq(market.totalEscrow(), 0, "no escrow stuck after every deadline");
        vm.revertToState(snapshot);
    }

    /// 5. The attackers gain nothing: a slashing buyer's short windows are refused and it earns
    /// nothing from the misses it causes; a claim flooder gets one slot per job; a replica that
    /// cannot run its job leaves without a slash.
    function invariant_attacksDoNotPay() public view {
        assertEq(handler.shortWindowsAccepted(), 0, "a window too short for the replicas was accepted");
        assertEq(handler.buyerGainedFromMisses(), 0, "the buyer gained from a slash it could cause");
        assertEq(handler.floodAccepted(), 0, "a provider claimed one job twice");
        assertEq(handler.leaverSlashed(), 0, "a replica that left was slashed");
    }

    /// 6. The court: a claim whose trace is right is never slashed by a game while the jury's
    /// majority is honest and its replicas move in time (every game's end is checked).
    function invariant_anHonestClaimNeverLosesInCourt() public view {
        assertEq(handler.honestLostInCourt(), 0, "an honest claim lost a game");
    }

    /// 4. Rewards per epoch never exceed its pool, and the pool is less than the epoch's fees:
    /// no provider is paid back more than fees paid for its work (wash trading cannot pay).
    function invariant_rewardsWithinTheFees() public view {
        uint256 current = market.currentEpoch();
        for (uint256 e; e <= current; ++e) {
            assertLe(market.epochRewards(e), market.rewardPool(e), "rewards within the pool");
            uint256 fees = market.epochFees(e);
            if (fees > 0) assertLt(market.rewardPool(e), fees, "the pool below the fees");
        }
    }

    /// Activity report: a suite whose handler never reaches the late states would prove little.
    function invariant_callSummary() public view {
        handler.calls("postJob");
    }
}
