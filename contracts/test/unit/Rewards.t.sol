// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";

contract RewardsTest is Fixture {
    bytes32 internal constant ROOT = keccak256("r");

    function setUp() public override {
        super.setUp();
        registerAll(3);
    }

    function withdrawAll(address who) internal {
        if (market.accountOf(who).balance == 0) return;
        vm.prank(who);
        market.withdraw();
    }

    function test_theRewardPoolIsTheRebateOfTheEpochsFees() public {
        runJob(3, same(3, ROOT), 1_000);
        uint256 epoch = market.currentEpoch();
        uint256 fees = market.epochFees(epoch);
        assertEq(fees, 3 * UNIT_PAY * 1_000 * 250 / 10_000, "fees of the epoch");
        assertEq(market.rewardPool(epoch), fees * 5_000 / 10_000, "half of them come back");
        assertEq(market.uncollectedFees(), fees - market.rewardPool(epoch), "the treasury's share");
    }

    function test_rewardsAreSharedByPaidWorkAfterTheEpoch() public {
        runJob(3, same(3, ROOT), 1_000);
        uint256 epoch = market.currentEpoch();
        vm.prank(providers[0]);
        vm.expectRevert(NothingToWithdraw.selector);
        market.claimRewards(); // the epoch is not over yet
        vm.warp(vm.getBlockTimestamp() + EPOCH);
        uint256 pool = market.rewardPool(epoch);
        for (uint256 i; i < 3; ++i) {
            vm.prank(providers[i]);
            market.claimRewards();
        }
        assertEq(usd.balanceOf(providers[0]), pool / 3, "a third each, in the payment token");
        assertLe(market.epochRewards(epoch), pool, "never more than the pool");
        market.collectFees(10);
        assertEq(usd.balanceOf(treasury), market.epochFees(epoch) - pool, "the treasury keeps the rest");
    }

    function test_noFeesNoRewards() public {
        vm.warp(vm.getBlockTimestamp() + EPOCH);
        assertEq(market.rewardPool(0), 0, "an epoch without paid work pays no rewards");
    }

    /// Wash trading (issue #21 point 5): a trader posts jobs to its own providers to harvest
    /// rewards. With rewards minted in the protocol token at `rewardPerFee` (10 GRID per $1 of
    /// fee with the deploy parameters) every dollar of fee came back as GRID worth more than it
    /// whenever GRID traded above $0.10. Rewards now come out of the fees themselves, below 100%
    /// of them: whatever anything is worth, the trader ends with less than it started with.
    function test_attack_washTradingNeverPays() public {
        address[3] memory mine = [providers[0], providers[1], providers[2]]; // the trader's own
        uint256 supply = grid.totalSupply();
        uint256 before = usd.balanceOf(buyer);
        for (uint256 i; i < 3; ++i) before += usd.balanceOf(mine[i]);

        runJob(3, same(3, ROOT), 1_000);
        uint256 epoch = market.currentEpoch();
        vm.warp(vm.getBlockTimestamp() + EPOCH);
        withdrawAll(buyer); // the unused escrow, if any
        for (uint256 i; i < 3; ++i) {
            withdrawAll(mine[i]);
            vm.prank(mine[i]);
            market.claimRewards();
        }
        uint256 afterwards = usd.balanceOf(buyer);
        for (uint256 i; i < 3; ++i) afterwards += usd.balanceOf(mine[i]);

        uint256 fee = market.epochFees(epoch);
        assertGt(fee, 0, "a fee was paid");
        assertLt(afterwards, before, "the trader lost money");
        assertEq(before - afterwards, fee - market.epochRewards(epoch), "the fee, less the rebate");
        assertGe(before - afterwards, fee / 2, "at least half the fee (rebateBps 5,000)");
        assertEq(grid.totalSupply(), supply, "nothing was minted");
    }

    /// The rule holds with other providers in the epoch too: each provider's reward is
    /// rebateBps × feeBps of its own pay, so the trader's share never exceeds its own fees.
    function test_attack_washTradingAmongHonestWorkStillLoses() public {
        registerProvider(providers[3]);
        registerProvider(providers[4]);
        runJob(3, same(3, ROOT), 1_000); // honest work by providers 0..2 for the buyer
        uint256 fee = market.epochFees(market.currentEpoch());
        // The trader: providers[3] posts a job that only its own providers[4] can take.
        address trader = providers[3];
        usd.mint(trader, 1e12);
        uint256 before = usd.balanceOf(trader) + usd.balanceOf(providers[4]);
        vm.startPrank(trader);
        usd.approve(address(market), type(uint256).max);
        uint256 jobId = market.postJob(params(1));
        vm.stopPrank();
        bookPost(jobId, params(1));
        claimAs(jobId, providers[4]);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[4], ROOT, 1_000);
        revealAs(jobId, 0, providers[4], ROOT, 1_000);
        finalizeAs(trader, jobId);
        uint256 epoch = market.currentEpoch();
        uint256 tradersFee = market.epochFees(epoch) - fee;
        vm.warp(vm.getBlockTimestamp() + EPOCH);
        withdrawAll(trader);
        withdrawAll(providers[4]);
        vm.prank(providers[4]);
        market.claimRewards();
        uint256 afterwards = usd.balanceOf(trader) + usd.balanceOf(providers[4]);
        assertLt(afterwards, before, "the trader lost money");
        assertGe(before - afterwards, tradersFee / 2, "its fee, less at most the rebate of it");
    }
}
