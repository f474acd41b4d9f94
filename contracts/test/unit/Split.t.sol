// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {IGridmintExtension} from "../../src/interfaces/IGridmint.sol";
import {TrailHash} from "../../src/libraries/TrailHash.sol";
import {Trail} from "../../src/libraries/Types.sol";

/// @notice The market at one address over two contracts: the hot path in `Gridmint`, the cold
/// paths delegated to `GridmintExtension`; and the one trail hash.
contract SplitTest is Fixture {
    function setUp() public override {
        super.setUp();
        registerAll(3);
    }

    /// The extension's own address holds nothing and takes nothing: a provider that registers
    /// there by mistake (or an attacker that wants state of its own beside the market's) is
    /// refused before any token moves.
    function test_attack_calling_the_extension_directly_is_refused_before_tokens_move() public {
        IGridmintExtension ext = IGridmintExtension(market.extension());
        address p = providers[3];
        vm.prank(p);
        grid.approve(address(ext), type(uint256).max);
        uint256 before = grid.balanceOf(p);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(OnlyThroughMarket.selector, address(market)));
        ext.register(keccak256("gpu"), 8_192, CU, 0, 1, STAKE, address(0));
        assertEq(grid.balanceOf(p), before, "no stake left the provider");
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(OnlyThroughMarket.selector, address(market)));
        ext.claimRewards();
        vm.expectRevert(abi.encodeWithSelector(OnlyThroughMarket.selector, address(market)));
        ext.collectFees(1);
    }

    /// The cold paths, called at the market's address, act on the market's state.
    function test_cold_paths_run_in_the_markets_storage() public view {
        assertEq(uint256(market.providerOf(providers[0]).stake), uint256(STAKE), "registered through the market");
        assertEq(market.feeBps(), 250, "the deployment's parameters");
        assertEq(address(market.stakeToken()), address(grid), "one protocol token");
        assertEq(market.stakeCredit(providers[0]), 0, "a view of the market's mappings");
    }

    /// A call the market does not know reverts (the extension has no fallback), and so does a
    /// payment in ether: nothing can be sent to the market but its tokens.
    function test_unknown_calls_and_ether_are_refused() public {
        (bool ok,) = address(market).call(abi.encodeWithSignature("noSuchFunction()"));
        assertTrue(!ok, "an unknown selector reverts");
        vm.deal(address(this), 1 ether);
        (ok,) = address(market).call{value: 1}("");
        assertTrue(!ok, "ether is refused");
        (ok,) = address(market).call{value: 1}(abi.encodeWithSignature("jobCount()"));
        assertTrue(!ok, "ether with a cold-path call is refused");
    }

    /// `TrailHash` is what the market keeps: at every step of a job, the hash of the trail a
    /// client rebuilt from the events is the market's `trailOf`.
    function test_the_trail_library_hashes_what_the_market_keeps() public {
        uint256 jobId = post(2);
        assertEq(this.hashOf(jobId, trail(jobId)), market.trailOf(jobId), "posted");
        claimAs(jobId, providers[0]);
        claimAs(jobId, providers[1]);
        assertEq(this.hashOf(jobId, trail(jobId)), market.trailOf(jobId), "claimed");
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[0], keccak256("r"), 3);
        assertEq(this.hashOf(jobId, trail(jobId)), market.trailOf(jobId), "committed");
        commitAs(jobId, 1, providers[1], keccak256("r"), 3);
        revealAs(jobId, 0, providers[0], keccak256("r"), 3);
        assertEq(this.hashOf(jobId, trail(jobId)), market.trailOf(jobId), "revealed");
    }

    function hashOf(uint256 jobId, Trail calldata t) external pure returns (bytes32) {
        return TrailHash.ofTrail(jobId, t);
    }
}
