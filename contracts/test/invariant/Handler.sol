// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vm} from "../utils/Vm.sol";
import {IGridmint, IGridmintExtension, IGridmintMarket} from "../../src/interfaces/IGridmint.sol";
import {MockStablecoin} from "../../src/tokens/MockStablecoin.sol";
import {GridToken} from "../../src/tokens/GridToken.sol";
import {Job, JobParams, JobState, Provider, Requirements, Reveal, Terms, Trail} from "../../src/libraries/Types.sol";
import {TrailBook} from "../utils/TrailBook.sol";

/// @notice Drives the market with valid actions only (so the suite runs with fail_on_revert):
/// each action picks a target for which it is allowed, or does nothing. Ghost state records what
/// the invariants compare against. It keeps each job's trail as a client would (TrailBook).
contract Handler is TrailBook {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    IGridmint public immutable market;
    MockStablecoin public immutable usd;
    GridToken public immutable grid;
    address public immutable buyer;
    address public immutable treasury;
    address public immutable arbiter;
    address[] public providers;

    bytes32 internal constant ROOT = keccak256("honest");
    bytes32 internal constant COLLUDED = keccak256("colluded");

    // ghost state
    uint256[] public jobIds;
    mapping(uint256 => uint256) public escrowOf; // as posted
    mapping(uint256 => uint256) public settledOut; // paid + fee + refund credited when the job ended
    uint256 public overpaidJobs; // jobs whose credits exceeded their escrow
    uint256 public doublePaid; // a provider credited more than one replica's pay for one job
    mapping(bytes32 => uint256) public calls;
    mapping(uint256 => uint256) public bondOf; // the buyer's challenge bond, if it challenged
    mapping(uint256 => bool) public greedy; // replicas report more work than the job's maximum
    uint256 public shortWindowsAccepted; // posts with windows too short for their replicas
    uint256 public floodAccepted; // second claims of one provider on one job
    uint256 public leaverSlashed; // replicas slashed for leaving a job they could not run
    uint256 public buyerGainedFromMisses; // buyer stake credit from a settlement without a dissenter

    constructor(IGridmint market_, MockStablecoin usd_, address buyer_, address treasury_, address arbiter_, address[] memory providers_) {
        market = market_;
        usd = usd_;
        grid = market_.stakeToken();
        buyer = buyer_;
        treasury = treasury_;
        arbiter = arbiter_;
        providers = providers_;
    }

    function jobCount() external view returns (uint256) {
        return jobIds.length;
    }

    function providerCount() external view returns (uint256) {
        return providers.length;
    }

    /// The job's trail as the handler recorded it, for the invariants to move jobs on.
    function trailOf(uint256 jobId) external view returns (Trail memory) {
        return trail(jobId);
    }

    // ---- actions ------------------------------------------------------------------------------

    function postJob(uint8 k, uint96 price, uint64 maxWu, uint16 claimWindow) external {
        if (jobIds.length >= 40) return;
        JobParams memory p;
        p.specHash = keccak256(abi.encode(jobIds.length));
        p.replicas = uint8(1 + k % 4);
        p.pricePerUnit = uint96(1 + price % 1e6);
        p.maxWorkUnits = uint64(1 + maxWu % 1e5);
        p.claimDeadline = uint40(block.timestamp + 1 + claimWindow % 600);
        p.commitDeadline = p.claimDeadline + 600;
        p.revealDeadline = p.commitDeadline + 600;
        (uint256 payment, uint256 fee) = market.escrowFor(p.pricePerUnit, p.maxWorkUnits, p.replicas);
        usd.mint(buyer, payment + fee);
        vm.prank(buyer);
        uint256 jobId = market.postJob(p);
        bookPost(jobId, p);
        jobIds.push(jobId);
        escrowOf[jobId] = payment + fee;
        calls["postJob"]++;
    }

    // ---- attackers -----------------------------------------------------------------------------

    /// A buyer out to slash honest replicas: it tries windows too short for its replicas (refused)
    /// and posts a job with a maximum of one work unit, which every honest reveal exceeds.
    function slashingBuyer(uint8 k, uint16 window) external {
        if (jobIds.length >= 40) return;
        JobParams memory p;
        p.specHash = keccak256(abi.encode("slashing buyer", jobIds.length));
        p.replicas = uint8(1 + k % 4);
        p.pricePerUnit = 1_000;
        p.maxWorkUnits = 1;
        p.claimDeadline = uint40(block.timestamp + 60);
        uint256 minimum = uint256(market.minStepWindow()) * (p.replicas + 1);
        p.commitDeadline = uint40(p.claimDeadline + window % minimum);
        p.revealDeadline = p.commitDeadline + 600;
        (uint256 payment, uint256 fee) = market.escrowFor(p.pricePerUnit, p.maxWorkUnits, p.replicas);
        usd.mint(buyer, payment + fee);
        vm.prank(buyer);
        try market.postJob(p) {
            shortWindowsAccepted++;
        } catch {}
        p.commitDeadline = uint40(p.claimDeadline + minimum);
        p.revealDeadline = uint40(p.commitDeadline + minimum);
        vm.prank(buyer);
        uint256 jobId = market.postJob(p);
        bookPost(jobId, p);
        jobIds.push(jobId);
        escrowOf[jobId] = payment + fee;
        greedy[jobId] = true;
        calls["slashingBuyer"]++;
    }

    /// A provider that claimed a job claims it again to take more slots (refused).
    function floodClaims(uint256 jobSeed) external {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        if (market.jobOf(jobId).claimants == 0) return;
        address p = claimantAt(jobId, 0);
        vm.prank(p);
        try market.claim(jobId) {
            floodAccepted++;
        } catch {}
        calls["floodClaims"]++;
    }

    /// A selected replica that cannot run the job (its data never came) leaves it uncommitted.
    function leaveJob(uint256 jobSeed, uint256 indexSeed) external {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        Job memory j = market.jobOf(jobId);
        if (j.state != JobState.Running || block.timestamp > termsOf(jobId).commitDeadline) return;
        uint256 index = indexSeed % j.claimants;
        if ((j.selected >> index) & 1 == 0 || commitmentAt(jobId, index) != bytes32(0)) return;
        uint96 stakeBefore = market.providerOf(claimantAt(jobId, index)).stake;
        _measured(jobId, abi.encodeCall(IGridmintExtension.leaveJob, (jobId, index, trail(jobId))), claimantAt(jobId, index));
        if (market.providerOf(claimantAt(jobId, index)).stake != stakeBefore) leaverSlashed++;
        calls["leave"]++;
    }

    function claim(uint256 jobSeed, uint256 providerSeed) external {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        Job memory j = market.jobOf(jobId);
        if (j.state != JobState.Open || block.timestamp > j.claimDeadline) return;
        address p = providers[providerSeed % providers.length];
        // Unfit claims are allowed (never selected); a slashed-below-minimum provider and a second
        // claim (claims go in job order) are refused, so skip them.
        if (!market.isEligible(p, Requirements(0, 0, 0, 0))) return;
        Provider memory record = market.providerOf(p);
        if (jobId <= record.lastJobOrUnstakeAt) return;
        vm.prank(p);
        market.claim(jobId);
        bookClaim(jobId, p, claimWeight(record.stake, record.agreed));
        calls["claim"]++;
    }

    function commit(uint256 jobSeed, uint256 indexSeed, bool corrupt) external {
        _commitRoot(jobSeed, indexSeed, corrupt ? 1 : 0);
    }

    /// Colluding replicas commit one wrong root together: a majority if enough are selected.
    function colludingCommit(uint256 jobSeed, uint256 indexSeed) external {
        _commitRoot(jobSeed, indexSeed, 2);
    }

    /// kind 0: the honest root; 1: a wrong root of its own; 2: the colluders' shared wrong root.
    function _commitRoot(uint256 jobSeed, uint256 indexSeed, uint256 kind) internal {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        Job memory j = market.jobOf(jobId);
        Terms memory terms = termsOf(jobId);
        bool startable = j.state == JobState.Open && block.timestamp > j.claimDeadline && j.claimants > 0;
        if (!startable && j.state != JobState.Running) return;
        if (block.timestamp > terms.commitDeadline || j.claimants == 0) return;
        uint256 index = indexSeed % j.claimants;
        address provider = claimantAt(jobId, index);
        if (commitmentAt(jobId, index) != bytes32(0)) return;
        if (j.state == JobState.Running && (j.selected >> index) & 1 == 0) return;
        bytes32 root = kind == 0 ? ROOT : kind == 1 ? keccak256(abi.encode("corrupt", provider)) : COLLUDED;
        uint64 wu = _units(jobId);
        bytes32 c = keccak256(abi.encode(root, wu, bytes32(uint256(uint160(provider))), provider));
        if (j.state == JobState.Open) {
            // This call selects the replicas first; it may leave this claimant out (or, when no
            // claimant is eligible, refund the job).
            vm.prank(provider);
            try market.commit(jobId, index, c, trail(jobId)) {
                bookCommit(jobId, index, c);
                calls["commit"]++;
            } catch {
                calls["commit-unselected"]++;
            }
            return;
        }
        vm.prank(provider);
        market.commit(jobId, index, c, trail(jobId));
        bookCommit(jobId, index, c);
        calls["commit"]++;
    }

    function reveal(uint256 jobSeed, uint256 indexSeed) external {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        Job memory j = market.jobOf(jobId);
        Terms memory terms = termsOf(jobId);
        if (j.state != JobState.Running || block.timestamp > terms.revealDeadline || j.claimants == 0) return;
        if (commitCount(jobId) < _popcount(j.selected) && block.timestamp <= terms.commitDeadline) return;
        uint256 index = indexSeed % j.claimants;
        bytes32 commitment = commitmentAt(jobId, index);
        if (commitment == bytes32(0) || revealedAt(jobId, index)) return;
        address provider = claimantAt(jobId, index);
        // The reveal that completes the job settles it when the buyer carries it: measure it like a
        // finalize. Anyone may reveal: the provider, a stranger or the buyer carries it.
        uint256 who = uint256(keccak256(abi.encode(jobSeed, indexSeed))) % 3;
        address carrier = who == 0 ? provider : who == 1 ? address(0xCA11) : buyer;
        _measured(jobId, _revealCall(jobId, index, provider, commitment, _units(jobId)), carrier);
        calls["reveal"]++;
        if (market.jobOf(jobId).state != JobState.Running) calls["reveal-settled"]++;
    }

    /// The buyer challenges the replicas' agreement (its spot check disagreed): with the reveals
    /// that complete the job, or from the chain alone once the reveals are in or the reveal
    /// deadline passed. The job goes to the arbiter whatever the majority, and the buyer bonds.
    function challenge(uint256 jobSeed) external {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        Job memory j = market.jobOf(jobId);
        Terms memory terms = termsOf(jobId);
        if (j.state != JobState.Running) return;
        if (block.timestamp > uint256(terms.revealDeadline) + market.checkWindow()) return;
        uint256 selected = _popcount(j.selected);
        uint256 pending;
        if (block.timestamp > terms.revealDeadline) {
            if (revealCount(jobId) == 0) return; // nothing to challenge: finalize refunds it
        } else {
            if (commitCount(jobId) < selected) return;
            pending = selected - revealCount(jobId);
        }
        uint256 bond = market.challengeBondOf(jobId, trail(jobId));
        usd.mint(buyer, bond);
        bondOf[jobId] = bond;
        Reveal[] memory reveals = new Reveal[](pending);
        uint64 wu = _units(jobId);
        uint256 n;
        for (uint256 i; i < j.claimants && n < reveals.length; ++i) {
            if ((j.selected >> i) & 1 == 0 || revealedAt(jobId, i)) continue;
            address provider = claimantAt(jobId, i);
            bytes32 s = bytes32(uint256(uint160(provider)));
            bytes32 root = _committedRoot(commitmentAt(jobId, i), wu, s, provider);
            reveals[n++] = Reveal({index: i, resultRoot: root, workUnits: wu, salt: s});
        }
        bytes memory data = abi.encodeCall(IGridmintMarket.challenge, (jobId, trail(jobId), reveals));
        for (uint256 m; m < n; ++m) bookReveal(jobId, reveals[m].index, reveals[m].resultRoot, _paidUnits(jobId));
        _measured(jobId, data, buyer);
        calls["challenge"]++;
    }

    function finalize(uint256 jobSeed) external {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        Job memory j = market.jobOf(jobId);
        uint256 revealDeadline = termsOf(jobId).revealDeadline;
        if (j.state == JobState.Open) {
            if (block.timestamp <= j.claimDeadline) return;
            if (j.claimants > 0 && block.timestamp <= revealDeadline) return;
        } else if (j.state != JobState.Running) {
            return;
        }
        // The buyer settles once the reveals are in or the time is up; anyone else after the
        // buyer's check window.
        bool allRevealed = j.state == JobState.Running && revealCount(jobId) >= _popcount(j.selected);
        address caller = address(this);
        if (block.timestamp <= revealDeadline + market.checkWindow()) {
            if (!allRevealed && block.timestamp <= revealDeadline) return;
            caller = buyer;
        }
        _measured(jobId, abi.encodeCall(IGridmintMarket.finalize, (jobId, trail(jobId))), caller);
        calls["finalize"]++;
    }

    function resolveOrExpire(uint256 jobSeed, bool resolve) external {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        Job memory j = market.jobOf(jobId);
        if (j.state != JobState.Disputed) return;
        if (resolve) {
            _measured(jobId, abi.encodeCall(IGridmintExtension.resolveDispute, (jobId, ROOT, _paidUnits(jobId), trail(jobId))), arbiter);
            calls["resolve"]++;
        } else if (block.timestamp > market.disputeOf(jobId).deadline) {
            _measured(jobId, abi.encodeCall(IGridmintExtension.expireDispute, (jobId, trail(jobId))), address(this));
            calls["expire"]++;
        }
    }

    function withdraw(uint256 accountSeed) external {
        address a = _account(accountSeed);
        if (market.accountOf(a).balance == 0) return;
        vm.prank(a);
        market.withdraw();
        calls["withdraw"]++;
    }

    function collectFees(uint256 epochs) external {
        uint256 from = market.feesCollectedThrough();
        if (from >= market.currentEpoch()) return;
        market.collectFees(1 + epochs % 4);
        calls["collectFees"]++;
    }

    function claimRewards(uint256 providerSeed) external {
        address p = providers[providerSeed % providers.length];
        vm.prank(p);
        try market.claimRewards() {
            calls["claimRewards"]++;
        } catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(vm.getBlockTimestamp() + 1 + seconds_ % 2 hours);
        calls["warp"]++;
    }

    // ---- helpers ------------------------------------------------------------------------------

    function accountCount() public view returns (uint256) {
        return providers.length + 2;
    }

    function accountAt(uint256 i) public view returns (address) {
        if (i < providers.length) return providers[i];
        return i == providers.length ? buyer : treasury;
    }

    function _account(uint256 seed) internal view returns (address) {
        return accountAt(seed % accountCount());
    }

    /// Calls a settling function and records what every account was credited.
    function _measured(uint256 jobId, bytes memory data, address caller) internal {
        uint256 n = accountCount();
        uint256[] memory before = new uint256[](n);
        for (uint256 i; i < n; ++i) before[i] = market.accountOf(accountAt(i)).balance;
        uint256 feesBefore = market.epochFees(market.currentEpoch());
        uint256 buyerCreditBefore = market.stakeCredit(buyer);
        vm.prank(caller);
        (bool ok, bytes memory err) = address(market).call(data);
        if (!ok) {
            assembly {
                revert(add(err, 32), mload(err))
            }
        }
        Job memory after_ = market.jobOf(jobId);
        if (market.stakeCredit(buyer) > buyerCreditBefore && !_anyDissent(jobId)) buyerGainedFromMisses++;
        if (after_.state == JobState.Disputed) return;
        // The fee (the treasury's share and the epoch's reward pool).
        uint256 credited = market.epochFees(market.currentEpoch()) - feesBefore;
        Terms memory terms = termsOf(jobId);
        uint256 onePay = uint256(terms.pricePerUnit) * _paidUnits(jobId);
        for (uint256 i; i < n; ++i) {
            uint256 delta = market.accountOf(accountAt(i)).balance - before[i];
            credited += delta;
            // A replica upheld against a challenge also gets a share of the buyer's bond.
            if (i < providers.length && delta > onePay + bondOf[jobId]) doublePaid++;
        }
        settledOut[jobId] = credited;
        if (credited > escrowOf[jobId] + bondOf[jobId]) overpaidJobs++;
    }

    /// The reveal of claimant `index` (honest or corrupt, whichever it committed), recorded.
    function _revealCall(uint256 jobId, uint256 index, address provider, bytes32 commitment, uint64 wu)
        internal
        returns (bytes memory data)
    {
        bytes32 s = bytes32(uint256(uint160(provider)));
        bytes32 root = _committedRoot(commitment, wu, s, provider);
        data = abi.encodeCall(IGridmintMarket.reveal, (jobId, index, root, wu, s, trail(jobId)));
        bookReveal(jobId, index, root, _paidUnits(jobId)); // the market caps it at the maximum
    }

    /// Whether a replica revealed a root other than the honest one (a slash for dissent may pay
    /// the buyer; a missed deadline must not).
    function _anyDissent(uint256 jobId) internal view returns (bool) {
        Trail memory t = trail(jobId);
        for (uint256 i; i < t.reveals.length; ++i) {
            if (t.reveals[i].resultRoot != t.reveals[0].resultRoot) return true;
        }
        return false;
    }

    /// Which root a replica committed to (honest, colluded or its own wrong one).
    function _committedRoot(bytes32 commitment, uint64 wu, bytes32 s, address provider) internal pure returns (bytes32) {
        if (keccak256(abi.encode(ROOT, wu, s, provider)) == commitment) return ROOT;
        if (keccak256(abi.encode(COLLUDED, wu, s, provider)) == commitment) return COLLUDED;
        return keccak256(abi.encode("corrupt", provider));
    }

    /// The work units replicas report: half the maximum, or (on a slashing buyer's job with a
    /// maximum of 1) more than the maximum.
    function _units(uint256 jobId) internal view returns (uint64) {
        uint64 max = termsOf(jobId).maxWorkUnits;
        return greedy[jobId] ? max + 500 : max / 2;
    }

    /// What the market counts of `_units`: never more than the maximum.
    function _paidUnits(uint256 jobId) internal view returns (uint64) {
        uint64 max = termsOf(jobId).maxWorkUnits;
        uint64 wu = _units(jobId);
        return wu > max ? max : wu;
    }

    function _popcount(uint32 x) internal pure returns (uint256 c) {
        for (; x != 0; x &= x - 1) ++c;
    }
}
