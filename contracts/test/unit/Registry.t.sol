// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Provider, ProviderStatus, Requirements} from "../../src/libraries/Types.sol";
import {IGridmintEvents} from "../../src/interfaces/IGridmint.sol";

contract RegistryTest is Fixture {
    address internal p;

    function setUp() public override {
        super.setUp();
        p = providers[0];
    }

    function test_register_recordsHardwareAndPullsStake() public {
        uint256 before = grid.balanceOf(p);
        registerProvider(p);
        Provider memory rec = market.providerOf(p);
        assertEq(uint256(rec.status), uint256(ProviderStatus.Active), "active after registering");
        assertEq(rec.stake, STAKE, "stake recorded");
        assertEq(rec.memoryMiB, 81_559, "memory recorded");
        assertEq(rec.computeUnits, CU, "compute units recorded");
        assertEq(grid.balanceOf(p), before - STAKE, "stake pulled");
        assertEq(market.totalStake(), STAKE, "total stake");
        assertEq(market.payoutOf(p), p, "payout defaults to the provider");
        assertEq(market.deviceModelOf(p), keccak256("NVIDIA H100 80GB HBM3"), "device model hash");
    }

    function test_register_revertsTwice() public {
        registerProvider(p);
        vm.expectRevert(abi.encodeWithSelector(AlreadyRegistered.selector, p));
        registerProvider(p);
    }

    function test_register_revertsOnEmptyHardware() public {
        vm.prank(p);
        vm.expectRevert(InvalidHardware.selector);
        market.register(bytes32(0), 1, 1, 0, 1, STAKE, address(0));
        vm.prank(p);
        vm.expectRevert(InvalidHardware.selector);
        market.register(keccak256("x"), 0, 1, 0, 1, STAKE, address(0));
        vm.prank(p);
        vm.expectRevert(InvalidHardware.selector);
        market.register(keccak256("x"), 1, 1, 0, 0, STAKE, address(0));
    }

    function test_register_revertsOnRegionOutOfRange() public {
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(InvalidRegion.selector, uint16(32)));
        market.register(keccak256("x"), 1, 1, 32, 1, STAKE, address(0));
    }

    function testFuzz_register_needsStakePerComputeUnit(uint32 units, uint96 stake) public {
        units = uint32(bound(units, 1, 5_000));
        uint256 required = MIN_STAKE_PER_UNIT * units;
        stake = uint96(bound(stake, 0, 10 * uint256(STAKE)));
        vm.prank(p);
        if (stake < required || stake == 0) {
            vm.expectRevert(abi.encodeWithSelector(StakeTooLow.selector, uint256(stake), required));
            market.register(keccak256("x"), 1, units, 0, 1, stake, address(0));
            assertEq(market.totalStake(), 0, "nothing staked on a revert");
        } else {
            market.register(keccak256("x"), 1, units, 0, 1, stake, address(0));
            assertEq(market.totalStake(), stake, "stake recorded");
        }
    }

    function test_addStake() public {
        registerProvider(p);
        vm.prank(p);
        market.addStake(5e18);
        assertEq(market.providerOf(p).stake, STAKE + 5e18, "stake grows");
        vm.prank(p);
        vm.expectRevert(ZeroAmount.selector);
        market.addStake(0);
        vm.prank(providers[1]);
        vm.expectRevert(abi.encodeWithSelector(NotRegistered.selector, providers[1]));
        market.addStake(1);
    }

    function test_unstake_cooldownThenWithdraw() public {
        registerProvider(p);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(NotUnstaking.selector, p));
        market.withdrawStake();
        vm.prank(p);
        market.requestUnstake();
        assertEq(uint256(market.providerOf(p).status), uint256(ProviderStatus.Unstaking), "unstaking");
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(CooldownActive.selector, vm.getBlockTimestamp() + 7 days));
        market.withdrawStake();
        vm.warp(vm.getBlockTimestamp() + 7 days);
        uint256 before = grid.balanceOf(p);
        vm.prank(p);
        market.withdrawStake();
        assertEq(grid.balanceOf(p), before + STAKE, "stake returned");
        assertEq(market.totalStake(), 0, "no stake left");
        assertEq(uint256(market.providerOf(p).status), uint256(ProviderStatus.None), "record removed");
    }

    function test_unstake_blockedWhileAJobIsOpen() public {
        registerProvider(p);
        uint256 jobId = post(1);
        claimAs(jobId, p);
        vm.prank(p);
        market.requestUnstake();
        vm.warp(vm.getBlockTimestamp() + 7 days);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(HasActiveJobs.selector, uint256(1)));
        market.withdrawStake();
        // The job times out (no commit): the provider is slashed, then may leave with the rest.
        finalize(jobId);
        vm.prank(p);
        market.withdrawStake();
        assertEq(market.totalStake(), 0, "stake left after the slash");
    }

    function test_unstaking_providerCannotClaim() public {
        registerProvider(p);
        vm.prank(p);
        market.requestUnstake();
        uint256 jobId = post(1);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(NotEligible.selector, jobId, p));
        market.claim(jobId);
    }

    function test_requestUnstake_needsRegistration() public {
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(NotRegistered.selector, p));
        market.requestUnstake();
    }

    function test_announcePeer_emitsTheEndpointForJurorsToFind() public {
        registerProvider(p);
        bytes32 peer = keccak256("an iroh endpoint id");
        vm.expectEmit(true, false, false, true);
        emit IGridmintEvents.PeerAnnounced(p, peer);
        vm.prank(p);
        market.announcePeer(peer);
    }

    /// A stranger cannot announce an endpoint (jurors look up parties, which are registered),
    /// and an empty endpoint is refused rather than hiding an earlier, good one.
    function test_announcePeer_needsRegistrationAndAnEndpoint() public {
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(NotRegistered.selector, p));
        market.announcePeer(keccak256("peer"));
        registerProvider(p);
        vm.prank(p);
        vm.expectRevert(InvalidPeer.selector);
        market.announcePeer(bytes32(0));
    }

    /// Issue #23 point 5: a provider declares where its machine is; a job open to some regions
    /// only is eligible to it once it declares one of them. A stranger cannot declare a region,
    /// and a code outside 0..31 is refused.
    function test_setRegion_movesAProviderIntoTheJobsItMayClaim() public {
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(NotRegistered.selector, p));
        market.setRegion(4);
        registerProvider(p); // region 3
        Requirements memory euWest = Requirements({minMemoryMiB: 0, minComputeUnits: 0, regionMask: 1 << 4, workloadClass: 0});
        assertTrue(!market.isEligible(p, euWest), "region 3 is not eu-west");
        vm.expectEmit(true, false, false, true);
        emit IGridmintEvents.RegionChanged(p, 4);
        vm.prank(p);
        market.setRegion(4);
        assertEq(market.providerOf(p).region, 4, "declared");
        assertTrue(market.isEligible(p, euWest), "now eligible");
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(InvalidRegion.selector, uint16(32)));
        market.setRegion(32);
        // Under an open claim the region stays: the draw checks claims against it, and a move
        // would have them slashed as unfit (a restart without the setting must not cost stake).
        uint256 jobId = post(1);
        claimAs(jobId, p);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(HasActiveJobs.selector, uint256(1)));
        market.setRegion(0);
    }

    function test_payoutChange_takesEffectAfterDelay() public {
        registerProvider(p);
        address newPayout = address(0xCAFE);
        vm.prank(p);
        vm.expectRevert(ZeroAddress.selector);
        market.requestPayoutChange(address(0));
        vm.prank(p);
        market.requestPayoutChange(newPayout);
        vm.expectRevert(abi.encodeWithSelector(PayoutNotYetEffective.selector, vm.getBlockTimestamp() + 2 days));
        market.applyPayoutChange(p);
        vm.warp(vm.getBlockTimestamp() + 2 days);
        market.applyPayoutChange(p);
        assertEq(market.payoutOf(p), newPayout, "new payout address");
        vm.expectRevert(abi.encodeWithSelector(NoPendingPayout.selector, p));
        market.applyPayoutChange(p);
        vm.prank(providers[1]);
        vm.expectRevert(abi.encodeWithSelector(NotRegistered.selector, providers[1]));
        market.requestPayoutChange(newPayout);
    }

    function test_withdraw_goesToPayoutAddress() public {
        registerAll(1);
        address newPayout = address(0xCAFE);
        vm.prank(p);
        market.requestPayoutChange(newPayout);
        vm.warp(vm.getBlockTimestamp() + 2 days);
        market.applyPayoutChange(p);
        runJob(1, same(1, keccak256("r")), 500);
        vm.prank(p);
        market.withdraw();
        assertEq(usd.balanceOf(newPayout), UNIT_PAY * 500, "earnings at the payout address");
        vm.prank(p);
        vm.expectRevert(NothingToWithdraw.selector);
        market.withdraw();
    }
}
