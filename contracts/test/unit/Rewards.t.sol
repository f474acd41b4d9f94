// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";

contract RewardsTest is Fixture {
    bytes32 internal constant ROOT = keccak256("r");

    function setUp() public override {
        super.setUp();
        registerAll(3);
    }

    function test_emissionIsCappedByFees() public {
        runJob(3, same(3, ROOT), 1_000);
        uint256 epoch = market.currentEpoch();
        uint256 fees = market.epochFees(epoch);
        assertEq(fees, 3 * uint256(PRICE) * 1_000 * 250 / 10_000, "fees of the epoch");
        assertEq(market.emissionCap(epoch), fees * 1e12, "demand-bound cap below the schedule");
    }

    function test_scheduleCapHalves() public view {
        assertEq(market.scheduleCap(0), 1_000e18, "initial cap");
        assertEq(market.scheduleCap(365), 500e18, "halved after 365 epochs");
        assertEq(market.scheduleCap(365 * 300), 0, "eventually zero");
    }

    function test_rewardsAreSharedByPaidWorkAfterTheEpoch() public {
        runJob(3, same(3, ROOT), 1_000);
        uint256 epoch = market.currentEpoch();
        vm.prank(providers[0]);
        vm.expectRevert(NothingToWithdraw.selector);
        market.claimRewards(); // the epoch is not over yet
        vm.warp(vm.getBlockTimestamp() + EPOCH);
        uint256 cap = market.emissionCap(epoch);
        for (uint256 i; i < 3; ++i) {
            vm.prank(providers[i]);
            market.claimRewards();
        }
        assertEq(grid.balanceOf(providers[0]) - (10 * uint256(STAKE) - STAKE), cap / 3, "a third each");
        assertLe(market.epochRewards(epoch), cap, "never more than the cap");
    }

    function test_noFeesNoEmission() public {
        vm.warp(vm.getBlockTimestamp() + EPOCH);
        assertEq(market.emissionCap(0), 0, "an epoch without paid work emits nothing");
    }
}
