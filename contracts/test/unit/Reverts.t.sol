// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {DisputePhase, JobState, SignedCommit, Trail} from "../../src/libraries/Types.sol";
import {Gridmint} from "../../src/Gridmint.sol";
import {GridmintCourt} from "../../src/GridmintCourt.sol";
import {GridmintStorage} from "../../src/base/GridmintStorage.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice The revert paths not exercised by the lifecycle tests, each leaving state unchanged.
contract RevertsTest is Fixture {
    function setUp() public override {
        super.setUp();
        registerAll(3);
    }

    function test_finalize_unknownJob() public {
        Trail memory none;
        vm.expectRevert(abi.encodeWithSelector(UnknownJob.selector, uint256(1)));
        market.finalize(1, none);
    }

    function test_claim_afterSelection_isWrongState() public {
        uint256 jobId = post(1);
        claimAs(jobId, providers[0]);
        vm.warp(vm.getBlockTimestamp() + 11);
        commitAs(jobId, 0, providers[0], keccak256("r"), 1);
        vm.prank(providers[1]);
        vm.expectRevert(abi.encodeWithSelector(WrongState.selector, jobId, JobState.Running));
        market.claim(jobId);
    }

    function test_commitAndReveal_onUnknownJob_areUnknownJob() public {
        Trail memory none;
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(UnknownJob.selector, uint256(5)));
        market.commit(5, 0, bytes32(uint256(1)), none);
        vm.prank(providers[0]);
        vm.expectRevert(abi.encodeWithSelector(UnknownJob.selector, uint256(5)));
        market.reveal(5, 0, bytes32(0), 0, bytes32(0), none);
    }

    function test_courtMoves_onlyDisputedJobs() public {
        uint256 jobId = runJob(1, same(1, keccak256("r")), 1);
        Trail memory t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(WrongState.selector, jobId, JobState.Finalized));
        market.advanceDispute(jobId, t);
        vm.expectRevert(abi.encodeWithSelector(WrongPhase.selector, jobId, DisputePhase.None));
        market.openTrace(jobId, bytes32(0), 0, 1);
        vm.expectRevert(abi.encodeWithSelector(WrongPhase.selector, jobId, DisputePhase.None));
        market.commitVote(jobId, 0, bytes32(uint256(1)), new address[](0));
    }

    function test_selectReplicas_withoutClaimants_isNotFinalizable() public {
        uint256 jobId = post(1);
        vm.warp(vm.getBlockTimestamp() + 11);
        Trail memory t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(NotFinalizable.selector, jobId));
        market.selectReplicas(jobId, t);
    }

    function test_commitSigned_forAClaimantThatDoesNotExist_isNotSelected() public {
        uint256 jobId = post(1);
        claimAs(jobId, providers[0]);
        vm.warp(vm.getBlockTimestamp() + 11);
        SignedCommit[] memory commits = new SignedCommit[](1);
        commits[0] = signedCommit(jobId, 5, 0, keccak256("r"), 1);
        Trail memory t = trail(jobId);
        vm.expectRevert(abi.encodeWithSelector(NotSelected.selector, jobId, uint256(5)));
        market.commitSigned(jobId, t, commits);
    }

    function test_collectFees_beforeAnEpochEnds_hasNothing() public {
        vm.expectRevert(NothingToWithdraw.selector);
        market.collectFees(1);
    }

    function test_withdrawStakeCredit_withNothing() public {
        vm.prank(buyer);
        vm.expectRevert(NothingToWithdraw.selector);
        market.withdrawStakeCredit();
    }

    function test_claim_tooManyClaimants() public {
        uint256 jobId = post(1);
        for (uint256 i; i < 33; ++i) {
            address p = address(uint160(0x9000 + i));
            grid.transfer(p, STAKE);
            vm.startPrank(p);
            grid.approve(address(market), type(uint256).max);
            market.register(keccak256("gpu"), 81_559, CU, 3, 0xff, STAKE, address(0));
            if (i < 32) {
                market.claim(jobId);
            } else {
                vm.expectRevert(abi.encodeWithSelector(TooManyClaimants.selector, jobId));
                market.claim(jobId);
            }
            vm.stopPrank();
        }
        assertEq(market.jobOf(jobId).claimants, 32, "32 claims, no more");
    }

    function test_constructor_rejectsBadParameters() public {
        GridmintStorage.Config memory c = config();
        c.treasury = address(0);
        vm.expectRevert(ZeroAddress.selector);
        new GridmintCourt(c);
        c = config();
        c.feeBps = 2_001;
        vm.expectRevert(abi.encodeWithSelector(InvalidParameter.selector, "feeBps"));
        new GridmintCourt(c);
        c = config();
        c.slashBps = 0;
        vm.expectRevert(abi.encodeWithSelector(InvalidParameter.selector, "slashBps"));
        new GridmintCourt(c);
        c = config();
        c.epochLength = 0;
        vm.expectRevert(abi.encodeWithSelector(InvalidParameter.selector, "epochs"));
        new GridmintCourt(c);
        c = config();
        c.rebateBps = 10_000; // a full rebate would make paying oneself free
        vm.expectRevert(abi.encodeWithSelector(InvalidParameter.selector, "rebateBps"));
        new GridmintCourt(c);
        c = config();
        c.jurySize = 4; // an even jury can tie
        vm.expectRevert(abi.encodeWithSelector(InvalidParameter.selector, "jurySize"));
        new GridmintCourt(c);
        c = config();
        c.genesis = vm.getBlockTimestamp() + 1;
        vm.expectRevert(abi.encodeWithSelector(InvalidParameter.selector, "genesis"));
        new GridmintCourt(c);
    }

    function test_stakeToken_nothingMintsIt() public {
        (bool ok,) = address(grid).call(abi.encodeWithSignature("mint(address,uint256)", address(this), 1));
        assertTrue(!ok, "the stake token has no mint");
    }
}
