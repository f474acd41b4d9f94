// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CourtFixture} from "../utils/CourtFixture.sol";
import {DeviceCheck, Dispute, DisputePhase, JobParams, Provider, ProviderStatus} from "../../src/libraries/Types.sol";
import {GridmintStorage} from "../../src/base/GridmintStorage.sol";
import {IGridmintEvents} from "../../src/interfaces/IGridmint.sol";

/// @notice Device checks (issue #23): a provider's declared figures challenged with a seed it
/// cannot know, answered by a deadline from its figures, judged by a jury from the pool; the
/// attacks on each step.
contract DeviceChecksTest is CourtFixture {
    address internal p;
    bytes32 internal constant ROOT = keccak256("the answer's Merkle root");

    function setUp() public virtual override {
        super.setUp();
        registerAll(5);
        joinPool(7);
        p = providers[0];
    }

    /// A network with a jury pool: jobs that ask for memory, compute or a class take verified
    /// providers only.
    function config() internal view virtual override returns (GridmintStorage.Config memory c) {
        c = super.config();
        c.verifiedMatching = true;
    }

    function caseOf(address provider) internal pure returns (uint256) {
        return (uint256(1) << 255) | uint160(provider);
    }

    function openAndAnswer() internal returns (uint256 caseId) {
        return openAndAnswerFor(p);
    }

    /// `who` opens its own check and answers it in the next block.
    function openAndAnswerFor(address who) internal returns (uint256 caseId) {
        vm.prank(who);
        market.openDeviceCheck(who);
        return answerAs(who);
    }

    /// `who` answers its open check in the next block.
    function answerAs(address who) internal returns (uint256 caseId) {
        vm.roll(vm.getBlockNumber() + 1);
        vm.prank(who);
        market.answerDeviceCheck(ROOT);
        return caseOf(who);
    }

    /// The seats of the check's jury vote `outputs` (bytes32(0): never comes), reveal, and the
    /// check (of the provider the case id carries) is closed.
    function judge(uint256 caseId, bytes32[] memory outputs) internal {
        address provider = address(uint160(caseId));
        seatJury(caseId, 7);
        address[] memory parties = new address[](1);
        parties[0] = provider;
        for (uint256 s; s < jury.length; ++s) {
            if (outputs[s] == bytes32(0)) continue;
            bytes32 digest = market.voteDigest(caseId, outputs[s], voteSalt(jury[s]), jury[s]);
            vm.prank(jury[s]);
            assertTrue(market.commitVote(caseId, s, digest, parties), "seated");
        }
        vm.warp(uint256(market.disputeOf(caseId).deadline) + 1);
        for (uint256 s; s < jury.length; ++s) {
            if (outputs[s] == bytes32(0)) continue;
            vm.prank(jury[s]);
            market.revealVote(caseId, s, outputs[s], voteSalt(jury[s]));
        }
        market.closeDeviceCheck(provider);
    }

    function all(bytes32 output) internal view returns (bytes32[] memory outputs) {
        outputs = new bytes32[](market.jurySize());
        for (uint256 s; s < outputs.length; ++s) outputs[s] = output;
    }

    function test_aCheckAnsweredAndUpheldByTheJury_verifiesTheProvider() public {
        uint256 deadline = block.timestamp + market.deviceCheckDeadline(81_559, CU);
        vm.expectEmit(true, false, false, true);
        emit IGridmintEvents.DeviceCheckOpened(p, block.number, deadline, 81_559, CU, 0xff);
        vm.prank(p);
        market.openDeviceCheck(p);
        DeviceCheck memory c = market.deviceCheckOf(p);
        assertEq(c.seedBlock, block.number, "seeded by the opening block");
        assertEq(market.providerOf(p).activeJobs, 1, "its stake is held while the check is open");
        vm.roll(vm.getBlockNumber() + 1);
        vm.prank(p);
        market.answerDeviceCheck(ROOT);
        assertEq(market.deviceCheckOf(p).answerBlock, block.number, "the answer's block draws the samples");
        uint256 caseId = caseOf(p);
        Dispute memory g = market.disputeOf(caseId);
        assertEq(uint256(g.phase), uint256(DisputePhase.JuryVote), "a jury is drawn for the answer");
        assertEq(g.node, market.checkPassDigest(ROOT), "jurors vote the pass digest of this root");
        uint256 before = block.timestamp;
        judge(caseId, all(market.checkPassDigest(ROOT)));
        Provider memory rec = market.providerOf(p);
        assertEq(uint256(rec.status), uint256(ProviderStatus.Verified), "verified");
        assertEq(rec.activeJobs, 0, "released");
        assertEq(rec.stake, STAKE, "not slashed");
        c = market.deviceCheckOf(p);
        assertEq(c.seedBlock, 0, "closed");
        assertGe(c.dueAt, before + 12 hours, "the next check is due half a day on at the earliest");
        assertLt(c.dueAt, block.timestamp + 36 hours, "and a day and a half at the latest");
        assertEq(uint256(market.disputeOf(caseId).phase), uint256(DisputePhase.None), "the case is cleared");
    }

    function test_noAnswerByTheDeadline_unverifiesAndCountsAMiss() public {
        // Verified first; then a stranger opens its due re-check and it does not answer.
        judge(openAndAnswer(), all(market.checkPassDigest(ROOT)));
        vm.warp(uint256(market.deviceCheckOf(p).dueAt));
        vm.prank(providers[4]);
        market.openDeviceCheck(p);
        DeviceCheck memory c = market.deviceCheckOf(p);
        vm.expectRevert(abi.encodeWithSelector(DisputeOpen.selector, caseOf(p)));
        market.closeDeviceCheck(p);
        vm.warp(uint256(c.deadline) + 1);
        vm.roll(vm.getBlockNumber() + 1);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(MoveTooLate.selector, caseOf(p)));
        market.answerDeviceCheck(ROOT);
        vm.expectEmit(true, false, false, true);
        emit IGridmintEvents.DeviceCheckFailed(p, false);
        market.closeDeviceCheck(p);
        Provider memory rec = market.providerOf(p);
        assertEq(uint256(rec.status), uint256(ProviderStatus.Active), "no longer verified");
        assertEq(rec.stake, STAKE, "a check it did not ask for takes no stake");
        assertEq(rec.activeJobs, 0, "released");
        assertEq(market.reputationOf(p).missed, 1, "counted as a miss");
    }

    /// Seat `s` votes `outputs[s]`; `jury` as `seatJury` drew it.
    function seatsVoting(uint256 caseId, bytes32 pass, uint256 against) internal returns (bytes32[] memory outputs) {
        seatJury(caseId, 7);
        outputs = new bytes32[](jury.length);
        for (uint256 s; s < against; ++s) outputs[s] = keccak256("a sampled row did not hold");
        for (uint256 s = against; s < outputs.length; ++s) outputs[s] = pass;
    }

    function test_attack_aFewJurorsAloneCannotSlashAnHonestProvider() public {
        uint256 caseId = openAndAnswer();
        // Two seats vote against, nobody else comes: short of the three a verdict needs.
        bytes32[] memory outputs = seatsVoting(caseId, bytes32(0), 2);
        address first = jury[0];
        judge(caseId, outputs);
        Provider memory rec = market.providerOf(p);
        assertEq(rec.stake, STAKE, "not slashed");
        assertEq(uint256(rec.status), uint256(ProviderStatus.Active), "nor verified");
        assertEq(market.providerOf(first).stake, STAKE, "a juror that revealed in a void check keeps its stake");
        assertEq(market.providerOf(first).activeJobs, 0, "and is released");
    }

    function test_aTiedJury_isVoidAndSlashesNoJurorThatRevealed() public {
        uint256 caseId = openAndAnswer();
        bytes32[] memory outputs = seatsVoting(caseId, market.checkPassDigest(ROOT), 2);
        outputs[4] = bytes32(0); // 2 against, 2 for, one seat empty
        judge(caseId, outputs);
        assertEq(market.providerOf(p).stake, STAKE, "the provider is not slashed");
        for (uint256 s; s < 4; ++s) {
            assertEq(market.providerOf(jury[s]).stake, STAKE, "no juror that revealed is slashed");
        }
        assertGe(market.deviceCheckOf(p).dueAt, block.timestamp + 12 hours, "due again in half a day");
    }

    function test_aJurorThatDoesNotReveal_isSlashedEvenInAVoidCheck() public {
        uint256 caseId = openAndAnswer();
        seatJury(caseId, 7);
        address absent = jury[0];
        address[] memory parties = new address[](1);
        parties[0] = p;
        bytes32 digest = market.voteDigest(caseId, market.checkPassDigest(ROOT), voteSalt(absent), absent);
        vm.prank(absent);
        market.commitVote(caseId, 0, digest, parties);
        vm.warp(uint256(market.disputeOf(caseId).deadline) + market.moveWindow() + 1);
        market.closeDeviceCheck(p);
        assertLt(market.providerOf(absent).stake, STAKE, "the juror that never revealed lost stake");
        assertEq(market.providerOf(absent).activeJobs, 0, "released");
    }

    function test_aJuryFindingAWrongRow_slashesTheProviderAndPaysTheJurors() public {
        // Verified first, then a re-check it fails.
        judge(openAndAnswer(), all(market.checkPassDigest(ROOT)));
        vm.warp(uint256(market.deviceCheckOf(p).dueAt));
        address stranger = providers[4];
        vm.prank(stranger);
        market.openDeviceCheck(p);
        answerAs(p);
        bytes32[] memory outputs = all(keccak256("a sampled row did not hold"));
        outputs[0] = market.checkPassDigest(ROOT); // one juror lies for the provider
        judge(caseOf(p), outputs); // every juror held STAKE before: the first check slashed nobody
        Provider memory rec = market.providerOf(p);
        assertEq(uint256(rec.status), uint256(ProviderStatus.Active), "unverified");
        assertEq(rec.stake, STAKE - STAKE / 10, "slashed");
        address liar = jury[0];
        bool liarAlsoCoherent;
        for (uint256 s = 1; s < jury.length; ++s) liarAlsoCoherent = liarAlsoCoherent || jury[s] == liar;
        if (!liarAlsoCoherent) assertLt(market.providerOf(liar).stake, STAKE, "the lying juror lost stake");
        for (uint256 s = 1; s < jury.length; ++s) {
            if (jury[s] != liar) assertGt(market.providerOf(jury[s]).stake, STAKE, "a coherent juror took a share");
        }
    }

    function test_aCheckNobodyJudges_changesNothing() public {
        uint256 caseId = openAndAnswer();
        vm.warp(uint256(market.disputeOf(caseId).deadline) + market.moveWindow() + 1);
        vm.expectEmit(true, false, false, false);
        emit IGridmintEvents.DeviceCheckVoid(p);
        market.closeDeviceCheck(p);
        Provider memory rec = market.providerOf(p);
        assertEq(uint256(rec.status), uint256(ProviderStatus.Active), "still unverified");
        assertEq(rec.stake, STAKE, "not slashed");
        vm.prank(p);
        market.openDeviceCheck(p); // and it may try again
    }

    function test_attack_anAnswerInTheOpeningBlock_isRefused() public {
        vm.prank(p);
        market.openDeviceCheck(p);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(DeviceCheckNotSeeded.selector, p));
        market.answerDeviceCheck(ROOT);
    }

    function test_attack_othersOpenOnlyAVerifiedProvidersDueCheck() public {
        address stranger = providers[4];
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(DeviceCheckNotDue.selector, p, uint256(0)));
        market.openDeviceCheck(p); // not verified: only it asks for a check
        judge(openAndAnswer(), all(market.checkPassDigest(ROOT)));
        uint256 due = market.deviceCheckOf(p).dueAt;
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(DeviceCheckNotDue.selector, p, due));
        market.openDeviceCheck(p);
        vm.warp(due);
        vm.prank(stranger);
        market.openDeviceCheck(p);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(DeviceCheckOpen.selector, p));
        market.openDeviceCheck(p);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotRegistered.selector, address(0xdead)));
        market.openDeviceCheck(address(0xdead));
    }

    function test_attack_theProviderCannotJudgeItsOwnCheck() public {
        // The provider is in the jury pool too.
        vm.prank(p);
        market.joinJuryPool();
        vm.roll(vm.getBlockNumber() + 1);
        uint256 caseId = openAndAnswer();
        vm.roll(vm.getBlockNumber() + 1);
        (, bool eligible) = market.juryTicketsOf(caseId, p);
        assertTrue(!eligible, "the provider is no juror of its own check");
        address[] memory parties = new address[](1);
        parties[0] = p;
        bytes32 pass = market.checkPassDigest(ROOT);
        bytes32 digest = market.voteDigest(caseId, pass, bytes32(0), p);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(NotEligible.selector, caseId, p));
        market.commitVote(caseId, 0, digest, parties);
        // Nor may a juror leave the provider out of the parties.
        address juror = providers[FIRST_JUROR];
        digest = market.voteDigest(caseId, pass, bytes32(0), juror);
        vm.prank(juror);
        vm.expectRevert(abi.encodeWithSelector(JuryMismatch.selector, caseId));
        market.commitVote(caseId, 0, digest, new address[](0));
    }

    function test_attack_aProviderCannotLeaveWithItsStakeDuringACheck() public {
        vm.prank(p);
        market.openDeviceCheck(p);
        vm.prank(p);
        market.requestUnstake();
        vm.warp(block.timestamp + 30 days);
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(HasActiveJobs.selector, uint256(1)));
        market.withdrawStake();
        market.closeDeviceCheck(p);
        assertEq(uint256(market.providerOf(p).status), uint256(ProviderStatus.Unstaking), "still unstaking");
        vm.prank(p);
        market.withdrawStake();
    }

    function test_attack_aSecondAnswerOrAnAnswerWithoutACheck_isRefused() public {
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(NoDeviceCheck.selector, p));
        market.answerDeviceCheck(ROOT);
        openAndAnswer();
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(NoDeviceCheck.selector, p));
        market.answerDeviceCheck(keccak256("another root, once the samples are known"));
        vm.expectRevert(abi.encodeWithSelector(NoDeviceCheck.selector, providers[1]));
        market.closeDeviceCheck(providers[1]);
    }

    /// The same figures as `gridmint_protocol::challenge`'s test: an H100 at its measured rate,
    /// and this machine's bench (1 GiB declared, 50 GFLOP/s).
    function test_theDeadlineFollowsTheDeclaredFigures() public view {
        assertEq(market.deviceCheckDeadline(81_920, 24_907), 356, "H100");
        assertEq(market.deviceCheckDeadline(1_024, 50), 131, "1 GiB at 50 GFLOP/s");
        assertEq(market.deviceCheckDeadline(1_024, 0), market.deviceCheckDeadline(1_024, 1), "a zero rate reads as 1");
        // The fill stops at 4,096 blocks of 4096² (256 GiB): a bigger declaration is checked on that.
        assertEq(market.deviceCheckDeadline(type(uint32).max, 1), market.deviceCheckDeadline(300_000, 1), "no overflow");
        assertGt(market.deviceCheckDeadline(type(uint32).max, 1), 1e6, "about 20 days at 1 GFLOP/s");
    }

    function test_attack_anUnverifiedClaimOfAJobThatAsksForMemory_isUnfit() public {
        assertTrue(market.verifiedMatching(), "this network matches on verified figures");
        judge(openAndAnswer(), all(market.checkPassDigest(ROOT)));
        address unverified = providers[1]; // registered the same figures, never checked
        JobParams memory asks = params(1); // 1,024 MiB, 10 units, the fused class
        assertTrue(market.isEligible(p, asks.requirements), "the verified provider fits");
        assertTrue(!market.isEligible(unverified, asks.requirements), "the unverified one does not");
        uint256 jobId = postWith(asks);
        claimAs(jobId, unverified); // a client that ignores isEligible
        claimAs(jobId, p);
        vm.warp(vm.getBlockTimestamp() + 11);
        market.selectReplicas(jobId, trail(jobId));
        assertEq(market.jobOf(jobId).selected, 1 << 1, "only the verified claimant is drawn");
        assertLt(market.providerOf(unverified).stake, STAKE, "the unfit claim cost stake");
        // A job that asks for nothing takes anyone in standing.
        JobParams memory anything = params(1);
        anything.requirements.minMemoryMiB = 0;
        anything.requirements.minComputeUnits = 0;
        anything.requirements.workloadClass = 0;
        assertTrue(market.isEligible(unverified, anything.requirements), "no asks: no check needed");
    }

    /// A verified provider that claims and then starts unstaking is skipped at the draw, not
    /// slashed as unfit: it was verified when it claimed.
    function test_aVerifiedClaimantThatStartsUnstaking_isSkippedNotSlashed() public {
        judge(openAndAnswer(), all(market.checkPassDigest(ROOT)));
        address other = providers[1];
        judge(openAndAnswerFor(other), all(market.checkPassDigest(ROOT)));
        uint256 jobId = postWith(params(1));
        claimAs(jobId, p);
        claimAs(jobId, other);
        vm.prank(p);
        market.requestUnstake();
        vm.warp(vm.getBlockTimestamp() + 11);
        market.selectReplicas(jobId, trail(jobId));
        assertEq(market.jobOf(jobId).selected, 1 << 1, "the verified one in standing is drawn");
        assertEq(market.providerOf(p).stake, STAKE, "the unstaking claimant keeps its stake");
    }
}
