// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {Settlement} from "../base/Settlement.sol";
import {
    Dispute, DisputePhase, Job, JobState, Provider, Revealed, Trail
} from "../libraries/Types.sol";

/// @title Court
/// @notice Disputes without an arbiter. A disputed job plays games, one at a time: a claim (a
/// result root and work units that replicas revealed) defends against a challenger (the buyer,
/// whose spot check failed, or a replica with another claim). The defender's root commits to an
/// execution trace, a Merkle tree over the steps it ran with the flops of each; the two sides
/// descend it (the defender splits a node, the challenger picks the half it disputes), one level
/// per round (or `levelsPerMove` levels: the parts of the node that many levels down), down to
/// one step. A jury drawn at random, weighted by stake, from the jury pool's members that are
/// not parties (see `Jury`) re-runs that step and commits, then reveals, its output hash; the
/// majority decides. The losing claim is slashed (the jurors who voted with the majority take a
/// share), or the losing challenger forfeits its bond. Games go on until one claim is left; it is
/// paid. Every phase has a deadline after which anyone moves the game on: the side that had to
/// move loses, so every dispute ends, and every token is accounted for on every path.
/// @dev A claim's root is `keccak256(abi.encode(traceRoot, flops, steps))`: the trace binds
/// every byte of the result (each output file is its steps' outputs, or made from them: the
/// client's `gridmint_runner::binding`), so two claims that agree on every step agree on every
/// file, and a wrong file is a wrong step the court can find. A trace node is `keccak256(abi.encode(left, leftFlops, right, rightFlops))` over `2^depth`
/// leaves, `depth = ⌈log2 steps⌉`, a step's leaf `keccak256(abi.encode(step, flops, prev, inHash,
/// outHash))` (prev: 1 + the step whose output is this one's input, 0 when the input comes from
/// the package) and a leaf past the last step zero with no flops. What the jurors check at a
/// leaf is the client's (`gridmint_runner::trace`); the court compares hashes only.
abstract contract Court is Settlement {
    using SafeERC20 for IERC20;

    /// @dev This contract's own address: every state-changing call runs delegated to, in the
    /// market's storage, never here.
    address internal immutable _self;

    constructor() {
        _self = address(this);
    }

    modifier delegated() {
        if (address(this) == _self) revert OnlyThroughMarket(address(0));
        _;
    }

    function _next(Dispute storage g, DisputePhase phase) internal returns (uint40 deadline) {
        deadline = uint40(block.timestamp + _moveWindow);
        g.phase = phase;
        g.deadline = deadline;
    }

    /// @notice See `IGridmintCourt`.
    function openTrace(uint256 jobId, bytes32 traceRoot, uint64 flops, uint32 steps) external delegated {
        Dispute storage g = _move(jobId, DisputePhase.Trace);
        if (keccak256(abi.encode(traceRoot, flops, steps)) != g.node) revert TraceMismatch(jobId);
        if (steps == 0 || steps > _MAX_TRACE_STEPS) revert TraceMismatch(jobId);
        // The work it reported is the work its trace ran (`WorkUnits::from_flops`), or the
        // maximum the job pays when it ran more: a replica cannot report more than it traced.
        uint256 units = flops == 0 ? 1 : (uint256(flops) + 999_999_999) / 1_000_000_000;
        uint256 reported = g.nodeFlops; // the work units, until now
        if (g.capped ? units < reported : units != reported) revert TraceMismatch(jobId);
        uint8 depth;
        while ((uint256(1) << depth) < steps) ++depth;
        g.node = traceRoot;
        g.nodeFlops = flops;
        g.steps = steps;
        g.depth = depth;
        uint40 deadline = _next(g, depth == 0 ? DisputePhase.Leaf : DisputePhase.Bisect);
        emit TraceOpened(jobId, traceRoot, flops, steps, deadline);
    }

    /// @notice See `IGridmintCourt`.
    function splitNode(uint256 jobId, bytes32[] calldata parts, uint64[] calldata partFlops) external delegated {
        Dispute storage g = _move(jobId, DisputePhase.Bisect);
        if (g.challengerTurn) revert NotYourMove(jobId);
        _checkParts(jobId, g, parts, partFlops);
        // The parts are in the event, not in storage: the challenger passes them back to pick.
        g.challengerTurn = true;
        uint40 deadline = _next(g, DisputePhase.Bisect);
        emit NodeSplit(jobId, g.depth, g.position, parts, partFlops, deadline);
    }

    /// @notice See `IGridmintCourt`.
    function pickPart(uint256 jobId, uint256 index, bytes32[] calldata parts, uint64[] calldata partFlops)
        external
        delegated
    {
        Dispute storage g = _move(jobId, DisputePhase.Bisect);
        if (!g.challengerTurn || msg.sender != g.steerer) revert NotYourMove(jobId);
        uint8 levels = _checkParts(jobId, g, parts, partFlops);
        if (index >= parts.length) revert TraceMismatch(jobId);
        g.node = parts[index];
        g.nodeFlops = partFlops[index];
        uint8 depth = g.depth - levels;
        uint32 position = uint32((uint256(g.position) << levels) | index);
        g.depth = depth;
        g.position = position;
        g.challengerTurn = false;
        uint40 deadline = _next(g, depth == 0 ? DisputePhase.Leaf : DisputePhase.Bisect);
        emit PartPicked(jobId, depth, position, deadline);
    }

    /// @dev The parts are the disputed node's descendants `levels` levels down (`levelsPerMove`,
    /// fewer at the bottom): they fold, pair by pair, into its hash and its flops. Returns `levels`.
    function _checkParts(uint256 jobId, Dispute storage g, bytes32[] calldata parts, uint64[] calldata partFlops)
        internal
        view
        returns (uint8 levels)
    {
        levels = g.depth < _levelsPerMove ? g.depth : _levelsPerMove;
        uint256 n = uint256(1) << levels;
        if (parts.length != n || partFlops.length != n) revert TraceMismatch(jobId);
        bytes32[] memory h = parts;
        uint256[] memory f = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            f[i] = partFlops[i];
        }
        for (; n > 1; n /= 2) {
            for (uint256 i; i < n / 2; ++i) {
                h[i] = keccak256(abi.encode(h[2 * i], f[2 * i], h[2 * i + 1], f[2 * i + 1]));
                f[i] = f[2 * i] + f[2 * i + 1];
            }
        }
        if (h[0] != g.node || f[0] != g.nodeFlops) revert TraceMismatch(jobId);
    }

    /// @notice See `IGridmintCourt`.
    function openLeaf(uint256 jobId, uint32 prev, bytes32 inHash, bytes32 outHash) external delegated {
        Dispute storage g = _move(jobId, DisputePhase.Leaf);
        uint32 step = g.position;
        if (step >= g.steps) {
            // Past its last step: the defender's tree must be empty there (the jury then judges
            // whether the job has such a step: a trace that stops short loses).
            if (g.node != bytes32(0) || g.nodeFlops != 0 || prev != 0 || inHash != 0 || outHash != 0) {
                revert TraceMismatch(jobId);
            }
        } else if (keccak256(abi.encode(step, g.nodeFlops, prev, inHash, outHash)) != g.node) {
            revert TraceMismatch(jobId);
        }
        // The jury judges the step's output, its flops and the trace's length at once: a juror's
        // answer is the same hash of what it computed (and of the job's true step count), so a
        // trace with inflated flops or cut short loses at any leaf.
        g.node = keccak256(abi.encode(outHash, g.nodeFlops, g.steps));
        // This block's hash seeds the jury's draw: nobody knows it when the leaf is sent.
        g.jury.seedBlock = uint32(block.number);
        uint40 deadline = _next(g, DisputePhase.JuryVote);
        emit LeafOpened(jobId, step, g.nodeFlops, prev, inHash, outHash, deadline);
    }

    /// @notice See `IGridmintCourt`.
    function challengeSurvivor(uint256 jobId, Trail calldata t) external delegated {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        Dispute storage g = _disputes[jobId];
        if (g.phase != DisputePhase.Checking) revert WrongPhase(jobId, g.phase);
        if (block.timestamp > g.deadline) revert MoveTooLate(jobId);
        if (msg.sender != j.buyer || g.buyerLost) revert CannotChallenge(jobId, msg.sender);
        _verify(jobId, j, t);
        uint256 bond = _challengeBond(j, t);
        if (bond + _totalEscrow + _totalBalances > type(uint96).max) revert InvalidParameter("bond");
        _totalEscrow += uint96(bond);
        g.bond = uint96(bond);
        emit JobDisputed(jobId, _BUYER, bond);
        _startGame(jobId, j, t, t.reveals, g.eliminated, _BUYER);
        _paymentToken.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @notice See `IGridmintCourt`.
    function advanceDispute(uint256 jobId, Trail calldata t) external delegated {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        _verify(jobId, j, t);
        Dispute storage g = _disputes[jobId];
        DisputePhase phase = g.phase;
        if (phase == DisputePhase.Checking) {
            // The buyer accepts the claim left at once; anyone settles it after the check window.
            if (block.timestamp <= g.deadline && msg.sender != j.buyer) revert DisputeOpen(jobId);
            _settleSurvivor(jobId, j, t, g);
        } else if (phase == DisputePhase.JuryVote) {
            bool allRevealed = g.jury.revealedSeats == g.jury.takenSeats;
            if (block.timestamp <= uint256(g.deadline) + (allRevealed ? 0 : _moveWindow)) revert DisputeOpen(jobId);
            // A tie (or no vote, or nobody who took a seat) leaves the defender's claim standing.
            _decided(jobId, j, t, g, g.jury.votesFor >= g.jury.votesAgainst, true);
        } else {
            if (block.timestamp <= g.deadline) revert DisputeOpen(jobId);
            // Trace, Bisect, Leaf: the side that had to move did not. Only the challenger picks;
            // a challenging replica's claim loses only once none of its replicas steers.
            bool challengerLate = phase == DisputePhase.Bisect && g.challengerTurn;
            if (challengerLate && g.challenger != _BUYER && _handOver(jobId, t, g)) return;
            _decided(jobId, j, t, g, challengerLate, false);
        }
    }

    /// @dev The challenging replica that steers missed its pick: the next replica that revealed
    /// the same claim steers now, with a fresh deadline; "next" in claim order going round from
    /// the challenger (which steered first, whatever its index), so every replica of the claim
    /// gets its turn once. False when none is left.
    function _handOver(uint256 jobId, Trail calldata t, Dispute storage g) internal returns (bool) {
        address from = g.steerer;
        uint256 challenger = g.challenger;
        uint256 index;
        while (t.claimants[index] != from) ++index;
        uint256 after_ = (index + _MAX_CLAIMANTS - challenger) % _MAX_CLAIMANTS; // its turn
        Revealed memory claim = _revealOf(t.reveals, challenger);
        uint256 next = type(uint256).max;
        for (uint256 i; i < t.reveals.length; ++i) {
            uint256 turn = (t.reveals[i].index + _MAX_CLAIMANTS - challenger) % _MAX_CLAIMANTS;
            if (turn <= after_ || turn >= next || !_sameClaim(t.reveals[i], claim)) continue;
            next = turn;
        }
        if (next == type(uint256).max) return false;
        address to = t.claimants[(next + challenger) % _MAX_CLAIMANTS];
        g.steerer = to;
        uint40 deadline = _next(g, DisputePhase.Bisect);
        _records[from].missed += 1;
        emit SteererReplaced(jobId, from, to, deadline);
        return true;
    }

    /// @dev Ends the current game: the loser's claim is slashed (the coherent jurors take
    /// `jurorShareBps`) or the losing challenger's bond forfeited; the seated jurors are released,
    /// those that did not vote with the majority lightly slashed. Then the next game, or the end.
    function _decided(uint256 jobId, Job storage j, Trail calldata t, Dispute storage g, bool defenderWon, bool voted)
        internal
    {
        emit GameDecided(jobId, defenderWon, g.jury.votesFor, g.jury.votesAgainst);
        // Seats are taken only in the jury's vote.
        address[] memory paid = voted ? _releaseJury(jobId, g, defenderWon) : new address[](0);
        Revealed[] memory reveals = t.reveals;
        uint8 loser = defenderWon ? g.challenger : g.defender;
        uint256 bond = g.bond;
        address bondOwner = g.challenger == _BUYER ? j.buyer : t.claimants[g.challenger];
        if (bond != 0) {
            g.bond = 0;
            _totalEscrow -= uint96(bond);
            _totalBalances += uint96(bond);
            if (defenderWon) {
                _forfeitBond(jobId, t, reveals, g, bond, paid);
            } else {
                _accounts[bondOwner].balance += uint128(bond);
                emit ChallengeBondReleased(jobId, false, bond);
            }
        }
        if (loser == _BUYER) {
            g.buyerLost = true;
        } else {
            Revealed memory lost = _revealOf(reveals, loser);
            uint32 eliminated = g.eliminated;
            uint256 pot;
            for (uint256 i; i < reveals.length; ++i) {
                uint256 index = reveals[i].index;
                if ((eliminated >> index) & 1 == 1 || !_sameClaim(reveals[i], lost)) continue;
                eliminated |= uint32(1 << index);
                pot += _slashLoser(jobId, j.buyer, t.claimants[index], paid.length != 0);
            }
            g.eliminated = eliminated;
            _payJurors(paid, pot);
        }
        if (_startGame(jobId, j, t, reveals, g.eliminated, _NEXT)) return;
        if (!_anyLeft(reveals, g.eliminated)) {
            // Every claim lost: nothing to pay for. No-shows are slashed, the buyer refunded.
            g.phase = DisputePhase.None;
            _slashNoShows(jobId, j, t, reveals);
            _refundAll(jobId, j, t);
        } else if (g.buyerLost) {
            // The buyer contested and lost: the claim left is paid now.
            _settleSurvivor(jobId, j, t, g);
        } else {
            // One claim left that the buyer has not contested: it may still (`challengeSurvivor`).
            uint40 deadline = uint40(block.timestamp + _checkWindow);
            g.phase = DisputePhase.Checking;
            g.deadline = deadline;
            emit SurvivorChecking(jobId, deadline);
        }
    }

    /// @dev Releases the seated jurors of case `caseId` (a game's or a device check's): those that
    /// did not vote with the majority (`defenderWon`: the defender's side) are lightly slashed;
    /// returns those that did, one entry per seat (a juror holding two seats is paid twice).
    function _releaseJury(uint256 caseId, Dispute storage g, bool defenderWon) internal returns (address[] memory paid) {
        uint256 taken = g.jury.takenSeats;
        uint256 coherent = defenderWon ? g.jury.votedFor : g.jury.revealedSeats & ~uint256(g.jury.votedFor);
        paid = new address[](_popcount(uint32(coherent)));
        uint256 c;
        for (uint256 s; taken >> s != 0; ++s) {
            if ((taken >> s) & 1 == 0) continue;
            address juror = _jurors[caseId][s].juror;
            delete _jurors[caseId][s];
            if ((g.jury.revealedSeats >> s) & 1 == 0) delete _votes[caseId][s]; // a revealed one is spent
            _providers[juror].activeJobs -= 1;
            if ((coherent >> s) & 1 == 1) {
                paid[c++] = juror;
            } else {
                _slashJuror(caseId, juror, (g.jury.revealedSeats >> s) & 1 == 0);
            }
        }
    }

    /// @dev Pays the one claim left (its replicas), slashes the selected replicas that neither
    /// revealed it nor were slashed already, and ends the job.
    function _settleSurvivor(uint256 jobId, Job storage j, Trail calldata t, Dispute storage g) internal {
        Revealed[] memory reveals = t.reveals;
        uint256 eliminated = g.eliminated;
        for (uint256 i; i < reveals.length; ++i) {
            if ((eliminated >> reveals[i].index) & 1 == 0) {
                g.phase = DisputePhase.None;
                _settle(jobId, j, t, reveals, reveals[i].resultRoot, reveals[i].workUnits, eliminated);
                return;
            }
        }
    }

    function _anyLeft(Revealed[] memory reveals, uint256 eliminated) internal pure returns (bool) {
        for (uint256 i; i < reveals.length; ++i) {
            if ((eliminated >> reveals[i].index) & 1 == 0) return true;
        }
        return false;
    }

    function _revealOf(Revealed[] memory reveals, uint256 index) internal pure returns (Revealed memory r) {
        for (uint256 i; i < reveals.length; ++i) {
            if (reveals[i].index == index) return reveals[i];
        }
    }

    /// @dev A challenger lost: `jurorShareBps` of its bond to the jurors who voted with the
    /// majority, the rest in equal shares to the defending claim's replicas (what does not divide
    /// to the treasury).
    function _forfeitBond(
        uint256 jobId,
        Trail calldata t,
        Revealed[] memory reveals,
        Dispute storage g,
        uint256 bond,
        address[] memory jurors
    ) internal {
        uint256 toJurors = jurors.length == 0 ? 0 : (bond * _jurorShareBps) / BPS;
        uint256 each = jurors.length == 0 ? 0 : toJurors / jurors.length;
        for (uint256 i; i < jurors.length; ++i) {
            _accounts[jurors[i]].balance += uint128(each);
        }
        uint256 rest = bond - each * jurors.length;
        Revealed memory d = _revealOf(reveals, g.defender);
        uint256 count;
        for (uint256 i; i < reveals.length; ++i) {
            if (_sameClaim(reveals[i], d)) ++count;
        }
        uint256 share = rest / count; // count > 0: the defender's own reveal
        for (uint256 i; i < reveals.length; ++i) {
            if (_sameClaim(reveals[i], d)) _accounts[t.claimants[reveals[i].index]].balance += uint128(share);
        }
        _accounts[_treasury].balance += uint128(rest - share * count);
        emit ChallengeBondReleased(jobId, true, bond);
    }

    /// @dev Slashes a replica whose claim lost a game, as a dissenter; returns the share of the
    /// slash kept for the jurors who voted with the majority (`jurorShareBps`, when there are any),
    /// which stays stake (see `_payJurors`).
    function _slashLoser(uint256 jobId, address buyer, address provider, bool jury) internal returns (uint256 toJurors) {
        Provider storage p = _providers[provider];
        uint256 amount = (uint256(p.stake) * _slashBps) / BPS;
        _countSlash(provider, p);
        if (amount == 0) return 0;
        toJurors = jury ? (amount * _jurorShareBps) / BPS : 0;
        uint256 rest = amount - toJurors;
        p.stake -= uint96(toJurors);
        // No buyer (a device check's case): the rest goes to the treasury.
        _takeStake(p, rest, buyer, buyer == address(0) ? 0 : (rest * _buyerSlashShareBps) / BPS);
        emit ProviderSlashed(jobId, provider, amount, false);
    }

    /// @dev Adds `pot` (stake taken from losers) to the stake of the jurors who voted with the
    /// majority, in equal shares: stake moves from the losers to them (what does not divide goes
    /// to the treasury's slash credit). Their weight in later draws grows with it.
    function _payJurors(address[] memory jurors, uint256 pot) internal {
        if (pot == 0) return;
        uint256 each = pot / jurors.length;
        for (uint256 i; i < jurors.length; ++i) {
            _providers[jurors[i]].stake += uint96(each);
        }
        uint256 dust = pot - each * jurors.length;
        if (dust != 0) {
            _totalStake -= dust;
            _totalStakeCredit += dust;
            _stakeCredit[_treasury] += dust;
        }
    }

    /// @dev A seated juror that did not reveal (`missed`) or voted against the majority loses
    /// `jurorSlashBps` of its stake, to the treasury.
    function _slashJuror(uint256 jobId, address juror, bool missed) internal {
        Provider storage p = _providers[juror];
        uint256 amount = (uint256(p.stake) * _jurorSlashBps) / BPS;
        if (missed) _records[juror].missed += 1;
        else _countSlash(juror, p);
        if (amount == 0) return;
        _takeStake(p, amount, address(0), 0);
        emit JurorSlashed(jobId, juror, amount, missed);
    }
}
