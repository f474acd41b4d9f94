// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vm} from "../utils/Vm.sol";
import {
    IGridmint, IGridmintCourt, IGridmintErrors, IGridmintExtension, IGridmintMarket
} from "../../src/interfaces/IGridmint.sol";
import {MockStablecoin} from "../../src/tokens/MockStablecoin.sol";
import {GridToken} from "../../src/tokens/GridToken.sol";
import {
    Dispute, DisputePhase, Job, JobParams, JobState, JurySeat, Provider, Requirements, Reveal, Terms, Trail
} from "../../src/libraries/Types.sol";
import {Leaf, Traces, Tree} from "../utils/Traces.sol";
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
    address[] public providers;

    uint32 internal constant STEPS = 8; // steps in every replica's trace

    /// The trace behind each root a replica committed: from which step it goes wrong (STEPS:
    /// never), with which tag, for how many flops.
    struct TraceId {
        uint32 wrongFrom;
        bytes32 tag;
        uint64 flops;
    }

    mapping(bytes32 => TraceId) internal _traces;

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
    // or a wrong result
    uint256 public honestLostInCourt; // a replica of the honest claim slashed by a court move

    constructor(IGridmint market_, MockStablecoin usd_, address buyer_, address treasury_, address[] memory providers_) {
        market = market_;
        usd = usd_;
        grid = market_.stakeToken();
        buyer = buyer_;
        treasury = treasury_;
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
        // Half the prices pay less than a base unit per work unit (rounded up per replica).
        p.pricePerUnit = uint96(1 + (price % 2 == 0 ? price % 1e6 : price % 1e12));
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
        p.pricePerUnit = 1_000e6;
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
        uint128 weight = market.claimWeightOf(p);
        vm.prank(p);
        market.claim(jobId);
        bookClaim(jobId, p, weight);
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
        uint64 wu = _units(jobId);
        bytes32 root = _root(kind, provider, wu);
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
            // Reveals that disagree wait out the check window: a dissenter may challenge.
            if (j.state == JobState.Running && _anyDissent(jobId)) return;
            caller = buyer;
        }
        _measured(jobId, abi.encodeCall(IGridmintMarket.finalize, (jobId, trail(jobId))), caller);
        calls["finalize"]++;
    }

    /// One move of a disputed job's game, as its players would make it: honest parties always
    /// move in time; a dishonest defender or steerer sometimes lets its deadline pass; the
    /// jurors re-run the step truthfully, and at most one of them lies.
    function court(uint256 jobSeed, uint256 moveSeed) external {
        if (jobIds.length == 0) return;
        uint256 jobId = jobIds[jobSeed % jobIds.length];
        if (market.jobOf(jobId).state != JobState.Disputed) return;
        Dispute memory g = market.disputeOf(jobId);
        Trail memory t = trail(jobId);
        bytes32 defRoot = _revealedRoot(t, g.defender);
        bool honestDefender = _traces[defRoot].wrongFrom == STEPS;
        // Only a dishonest mover lets its deadline pass: honest parties always move in time.
        bool defenderMoves = g.phase != DisputePhase.Bisect || !g.challengerTurn;
        bool honestMover = defenderMoves ? honestDefender : _isHonestReplica(t, g.steerer);
        bool stall = (moveSeed / 100) % 3 == 1 && !honestMover;
        if (block.timestamp > g.deadline) {
            _timeOut(jobId, moveSeed); // the mover's deadline passed while time went by
            return;
        }
        if (g.phase == DisputePhase.Checking || g.phase == DisputePhase.JuryVote || stall) {
            if (g.phase == DisputePhase.JuryVote) _vote(jobId, g, moveSeed);
            _timeOut(jobId, moveSeed);
            return;
        }
        Tree memory tree = _treeOf(defRoot);
        if (g.phase == DisputePhase.Trace) {
            market.openTrace(jobId, Traces.root(tree), tree.flops, tree.steps);
        } else if (g.phase == DisputePhase.Bisect) {
            uint256 levels = g.depth < market.levelsPerMove() ? g.depth : market.levelsPerMove();
            uint256 n = uint256(1) << levels;
            bytes32[] memory parts = new bytes32[](n);
            uint64[] memory flops = new uint64[](n);
            for (uint256 i; i < n; ++i) {
                parts[i] = tree.h[g.depth - levels][(uint256(g.position) << levels) + i];
                flops[i] = tree.f[g.depth - levels][(uint256(g.position) << levels) + i];
            }
            if (!g.challengerTurn) {
                market.splitNode(jobId, parts, flops);
            } else {
                // Towards the defender's first wrong step when it has one; anywhere otherwise.
                uint32 target = honestDefender ? uint32(moveSeed % STEPS) : _traces[defRoot].wrongFrom;
                vm.prank(g.steerer);
                market.pickPart(jobId, (target >> (g.depth - levels)) & (n - 1), parts, flops);
            }
        } else if (g.phase == DisputePhase.Leaf) {
            Leaf memory leaf = tree.leaves[g.position];
            market.openLeaf(jobId, leaf.prev, leaf.inHash, leaf.outHash);
        }
        calls["court-move"]++;
    }

    /// The deadline passes and anyone moves the game on.
    function _timeOut(uint256 jobId, uint256 moveSeed) internal {
        Dispute memory g = market.disputeOf(jobId);
        uint256 wait = g.phase == DisputePhase.JuryVote ? 2 * uint256(market.moveWindow()) : 0;
        vm.warp(uint256(g.deadline) + wait + 1);
        _settleMove(jobId, g, moveSeed % 7 == 0 ? buyer : address(this));
    }

    function _settleMove(uint256 jobId, Dispute memory g, address caller) internal {
        Trail memory t = trail(jobId);
        address[] memory honestOnes = _honestReplicas(t);
        uint32[] memory before = new uint32[](honestOnes.length);
        for (uint256 i; i < honestOnes.length; ++i) before[i] = market.reputationOf(honestOnes[i]).slashed;
        bytes memory data = abi.encodeCall(IGridmintCourt.advanceDispute, (jobId, t));
        _measured(jobId, data, caller);
        for (uint256 i; i < honestOnes.length; ++i) {
            if (market.reputationOf(honestOnes[i]).slashed > before[i]) honestLostInCourt++;
        }
        calls["court-settle"]++;
    }

    /// Every eligible pool member that is no party comes, in an order `moveSeed` picks, for every
    /// seat: a free seat is taken, a held one by a better ticket for it, a worse one is refused.
    /// They commit the step's true output (the first comer lies when `moveSeed` says so and at
    /// least three come, and comes for one seat only, so the majority stays honest), and reveal
    /// after the commit deadline (one seat of five never does, when `moveSeed` says so).
    function _vote(uint256 jobId, Dispute memory g, uint256 moveSeed) internal {
        vm.roll(vm.getBlockNumber() + 1); // the seed is the leaf's block's hash
        Tree memory honest = _treeOf(_honestRoot(jobId));
        (bytes32 out, uint64 flops) = g.position < honest.steps
            ? (honest.leaves[g.position].outHash, honest.leaves[g.position].flops)
            : (bytes32(0), uint64(0));
        bytes32 truth = keccak256(abi.encode(out, flops, honest.steps));
        Trail memory t = trail(jobId);
        address[] memory comers = new address[](providers.length);
        uint256 n;
        for (uint256 i; i < providers.length; ++i) {
            address p = providers[(moveSeed + i) % providers.length];
            (, bool eligible) = market.juryTicketsOf(jobId, p);
            if (eligible && !_isParty(t, p)) comers[n++] = p;
        }
        bytes32 lie = keccak256("a lie");
        address[] memory parties = _partiesOf(jobId, t);
        uint256 size = market.jurySize();
        for (uint256 i; i < n; ++i) {
            // The liar comes for one seat only, so the honest comers hold the majority.
            bool liar = i == 0 && n >= 3 && moveSeed % 3 == 0;
            bytes32 digest = market.voteDigest(jobId, liar ? lie : truth, bytes32(i), comers[i]);
            for (uint256 k; k < size; ++k) {
                uint256 seat = (moveSeed + k) % size;
                vm.prank(comers[i]);
                try market.commitVote(jobId, seat, digest, parties) {
                    if (liar) break;
                } catch (bytes memory reason) {
                    require(bytes4(reason) == IGridmintErrors.TicketTooLow.selector, "only a worse ticket is refused");
                }
            }
        }
        vm.warp(uint256(g.deadline) + 1);
        _reveal(jobId, comers, n >= 3 && moveSeed % 3 == 0 ? lie : truth, truth, moveSeed);
        calls["jury-votes"]++;
    }

    /// Every seat's juror reveals (the output it committed: `first` for `comers[0]`, else
    /// `truth`), but seat 1 of five or more when `moveSeed` says so.
    function _reveal(uint256 jobId, address[] memory comers, bytes32 first, bytes32 truth, uint256 moveSeed) internal {
        uint256 taken = market.disputeOf(jobId).jury.takenSeats;
        JurySeat[] memory seats = market.juryOf(jobId);
        for (uint256 s; s < seats.length; ++s) {
            if ((taken >> s) & 1 == 0) continue;
            if (s == 1 && _popcount(uint32(taken)) >= 5 && moveSeed % 4 == 1) continue; // a seat never revealed
            uint256 i;
            while (comers[i] != seats[s].juror) ++i;
            vm.prank(seats[s].juror);
            market.revealVote(jobId, s, i == 0 ? first : truth, bytes32(i));
        }
    }

    /// The job's parties as `commitVote` takes them: its buyer, then its claimants.
    function _partiesOf(uint256 jobId, Trail memory t) internal view returns (address[] memory parties) {
        parties = new address[](t.claimants.length + 1);
        parties[0] = market.jobOf(jobId).buyer;
        for (uint256 i; i < t.claimants.length; ++i) parties[i + 1] = t.claimants[i];
    }

    function _anywhere() internal pure returns (Requirements memory) {}

    function _isParty(Trail memory t, address a) internal view returns (bool) {
        if (a == buyer) return true;
        for (uint256 i; i < t.claimants.length; ++i) {
            if (t.claimants[i] == a) return true;
        }
        return false;
    }

    function _isHonestReplica(Trail memory t, address a) internal view returns (bool) {
        for (uint256 i; i < t.reveals.length; ++i) {
            bytes32 root = t.reveals[i].resultRoot;
            if (t.claimants[t.reveals[i].index] == a) return _traces[root].wrongFrom == STEPS && _traces[root].flops != 0;
        }
        return false;
    }

    function _revealedRoot(Trail memory t, uint256 index) internal pure returns (bytes32) {
        for (uint256 i; i < t.reveals.length; ++i) {
            if (t.reveals[i].index == index) return t.reveals[i].resultRoot;
        }
        return bytes32(0);
    }

    function _honestRoot(uint256 jobId) internal returns (bytes32) {
        return _root(0, address(0), _units(jobId));
    }

    function _honestReplicas(Trail memory t) internal view returns (address[] memory list) {
        list = new address[](t.reveals.length);
        uint256 n;
        for (uint256 i; i < t.reveals.length; ++i) {
            if (_traces[t.reveals[i].resultRoot].wrongFrom == STEPS && _traces[t.reveals[i].resultRoot].flops != 0) {
                list[n++] = t.claimants[t.reveals[i].index];
            }
        }
        assembly {
            mstore(list, n)
        }
    }

    /// The root a replica of `kind` reveals (0: honest; 1: wrong in its own way; 2: the
    /// colluders' shared wrong trace), recorded so the court's moves can rebuild its trace.
    function _root(uint256 kind, address provider, uint64 wu) internal returns (bytes32 root) {
        TraceId memory id = TraceId({
            wrongFrom: kind == 0 ? STEPS : kind == 2 ? 3 : uint32(uint160(provider) % STEPS),
            tag: kind == 1 ? keccak256(abi.encode("corrupt", provider)) : bytes32("colluded"),
            flops: wu * 1e9
        });
        root = Traces.claimRoot(Traces.build(STEPS, id.flops, id.wrongFrom, id.tag));
        _traces[root] = id;
    }

    function _treeOf(bytes32 root) internal view returns (Tree memory) {
        TraceId memory id = _traces[root];
        return Traces.build(STEPS, id.flops, id.wrongFrom, id.tag);
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
        uint256 onePay = payFor(terms.pricePerUnit, _paidUnits(jobId));
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
    /// Whether a replica of the job revealed something other than the others, or a wrong result
    /// (a trace with a wrong step, even if all agree on it: the court slashes it rightly, with the
    /// buyer's share).
    function _anyDissent(uint256 jobId) internal view returns (bool) {
        Trail memory t = trail(jobId);
        for (uint256 i; i < t.reveals.length; ++i) {
            if (t.reveals[i].resultRoot != t.reveals[0].resultRoot) return true;
            TraceId memory id = _traces[t.reveals[i].resultRoot];
            if (id.wrongFrom != STEPS || id.flops == 0) return true;
        }
        return false;
    }

    /// Which root a replica committed to (honest, colluded or its own wrong one).
    function _committedRoot(bytes32 commitment, uint64 wu, bytes32 s, address provider) internal returns (bytes32) {
        for (uint256 kind; kind < 2; ++kind) {
            bytes32 root = _root(kind == 0 ? 0 : 2, provider, wu);
            if (keccak256(abi.encode(root, wu, s, provider)) == commitment) return root;
        }
        return _root(1, provider, wu);
    }

    /// The work units replicas report: half the maximum, or (on a slashing buyer's job with a
    /// maximum of 1) more than the maximum.
    function _units(uint256 jobId) internal view returns (uint64) {
        uint64 max = termsOf(jobId).maxWorkUnits;
        return greedy[jobId] ? max + 500 : max < 2 ? 1 : max / 2;
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
