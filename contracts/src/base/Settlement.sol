// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {GridmintStorage} from "./GridmintStorage.sol";
import {ReplicaDraw} from "../libraries/ReplicaDraw.sol";
import {TrailHash} from "../libraries/TrailHash.sol";
import {
    Account,
    Dispute,
    DisputePhase,
    EpochTotals,
    Job,
    JobState,
    Provider,
    ProviderStatus,
    Record,
    Requirements,
    Reveal,
    Revealed,
    Trail
} from "../libraries/Types.sol";

/// @title Settlement
/// @notice What both halves of the market share: checking a job's trail, selecting its
/// replicas, revealing, deciding by majority, paying, slashing, refunding, opening a dispute, and
/// crediting work towards rewards. Internal only: the hot path (`Gridmint`) settles a job that
/// completes; the court (`GridmintCourt`) settles one a dispute decided or that
/// no jury could judge.
abstract contract Settlement is GridmintStorage {
    using SafeERC20 for IERC20;

    /// @dev A price is in millionths of a payment-token base unit per work unit (for a 6-decimal
    /// dollar token: 10^-12 USD per 10^9 operations, the same number as micro-dollars per 10^15
    /// operations): a whole base unit per work unit would price an H100 hour at about $90,000.
    uint256 internal constant PRICE_SCALE = 1e6;

    /// @dev What one replica is paid for `workUnits` at `pricePerUnit`, rounded up to a whole
    /// base unit (at most one base unit more than the exact price; the escrow rounds alike).
    function _payFor(uint96 pricePerUnit, uint64 workUnits) internal pure returns (uint256) {
        return (uint256(pricePerUnit) * workUnits + PRICE_SCALE - 1) / PRICE_SCALE;
    }

    /// @dev Escrow a job needs: payment for k replicas at the maximum work, plus the fee.
    function _escrowFor(uint96 pricePerUnit, uint64 maxWorkUnits, uint8 replicas)
        internal
        view
        returns (uint256 payment, uint256 fee)
    {
        payment = _payFor(pricePerUnit, maxWorkUnits) * replicas;
        fee = (payment * _feeBps) / BPS;
    }

    /// @dev Whether `provider` may claim a job with these requirements now.
    function _isEligible(address provider, Requirements memory req) internal view returns (bool) {
        Provider memory p = _providers[provider];
        return _inStanding(p) && _fits(p, req);
    }

    /// @dev Active (verified or not), with the stake its compute units need.
    function _inStanding(Provider memory p) internal view returns (bool) {
        return _active(p.status) && p.stake >= _minStakePerUnit * p.computeUnits;
    }

    /// @dev May claim: `Active` or `Verified`.
    function _active(ProviderStatus status) internal pure returns (bool) {
        return status >= ProviderStatus.Active;
    }

    /// @dev What it registered meets the job's requirements. With `verifiedMatching`, a job that
    /// asks for memory, compute or the fused class counts only figures a device check verified:
    /// an unverified provider fits only jobs that ask for none of them (`DeviceChecks`).
    function _fits(Provider memory p, Requirements memory req) internal view returns (bool) {
        return (!_verifiedOnly(req) || p.status == ProviderStatus.Verified) && _declaredFits(p, req);
    }

    /// @dev Whether the job's requirements are matched against verified figures only.
    function _verifiedOnly(Requirements memory req) internal view returns (bool) {
        return _verifiedMatching && (uint256(req.minMemoryMiB) | req.minComputeUnits | req.workloadClass) != 0;
    }

    /// @dev What it declared meets the job's requirements.
    function _declaredFits(Provider memory p, Requirements memory req) internal pure returns (bool) {
        return p.memoryMiB >= req.minMemoryMiB && p.computeUnits >= req.minComputeUnits
            && (req.regionMask == 0 || (req.regionMask >> p.region) & 1 == 1)
            && (p.classes >> req.workloadClass) & 1 == 1;
    }

    /// @dev Seconds a provider that declared `memoryMiB` and `gflops` has to answer its device
    /// check: the challenge it gets fills 90% of the memory with blocks of the smallest power-of-two
    /// side (at least 16) that keeps them at most 4,096, then walks as many steps
    /// (`gpu_engine::workloads::challenge::ChallengeSpec::for_fill`); the deadline is 1.5 times
    /// its GEMMs at the declared rate plus hashing every matrix at 1 GiB/s, plus 120 s
    /// (`gridmint_protocol::challenge::deadline_s`: the two are tested against the same figures).
    function _checkDeadline(uint256 memoryMiB, uint256 gflops) internal pure returns (uint256) {
        uint256 fill = (memoryMiB << 20) * 90 / 100;
        uint256 side = 16;
        while (side < 4096 && fill / (4 * side * side) > 4096) side *= 2;
        uint256 blocks = fill / (4 * side * side);
        if (blocks > 4096) blocks = 4096;
        if (blocks < 2) blocks = 2;
        uint256 flops = (2 * blocks - 1) * 2 * side * side * side + blocks * 8 * side * side;
        uint256 hashed = 2 * blocks * 4 * side * side;
        uint256 rate = gflops == 0 ? 1e9 : gflops * 1e9;
        uint256 work = (flops + rate - 1) / rate + (hashed + (1 << 30) - 1) / (1 << 30);
        return (work * 3 + 1) / 2 + 120;
    }

    function _payoutOf(address account) internal view returns (address) {
        address p = _payout[account];
        return p == address(0) ? account : p;
    }

    function _currentEpoch() internal view returns (uint256) {
        return (block.timestamp - _genesis) / _epochLength;
    }

    /// @dev The rewards of `epoch`: `rebateBps` of the fees paid in it (payment token), shared
    /// by the providers paid in it in proportion to their pay. A provider's reward is then
    /// rebateBps × feeBps of its own pay, whoever else worked: a trader who pays itself gets back
    /// less than the fee it paid, whatever the token is worth (see contracts/README.md).
    function _rewardPool(uint256 epoch) internal view returns (uint256) {
        return (uint256(_epochTotals[epoch].fees) * _rebateBps) / BPS;
    }

    /// @dev A claim by a provider registered as `p` weighs this in the draw of the replicas
    /// (`ReplicaDraw.claimWeight`: the stake capped at four times what its compute requires,
    /// raised by agreements, lowered by slashes). It reads nothing but the provider's slot.
    function _claimWeight(Provider memory p) internal view returns (uint128) {
        return ReplicaDraw.claimWeight(p.stake, _minStakePerUnit * p.computeUnits, p.agreed, p.slashes);
    }

    /// @dev Counts a slash of `provider` (registered as `p`): in its record, and in the claim
    /// weight's count (saturating).
    function _countSlash(address provider, Provider storage p) internal {
        _records[provider].slashed += 1;
        if (p.slashes != type(uint8).max) p.slashes += 1;
    }

    /// @dev The bond a challenge pulls: `challengeBondBps` of the job's escrow, at least 1.
    function _challengeBond(Job storage j, Trail calldata t) internal view returns (uint256 bond) {
        bond = (_escrowOf(j, t) * _challengeBondBps) / BPS;
        if (bond == 0) bond = 1;
    }

    /// @dev The job's game, checked to be in `phase` with its deadline not passed.
    /// A phase other than None means the job is Disputed: every end of a dispute resets it.
    function _move(uint256 jobId, DisputePhase phase) internal view returns (Dispute storage g) {
        g = _disputes[jobId];
        if (g.phase != phase) revert WrongPhase(jobId, g.phase);
        if (block.timestamp > g.deadline) revert MoveTooLate(jobId);
    }

    /// @dev Checks `t` against the job's trail hash and returns the hash.
    function _verify(uint256 jobId, Job storage j, Trail calldata t) internal view returns (bytes32 h) {
        if (t.claimants.length != j.claimants || t.weights.length != t.claimants.length) revert TrailMismatch(jobId);
        h = TrailHash.ofTrail(jobId, t);
        if (h != _trails[jobId]) revert TrailMismatch(jobId);
    }

    /// @dev After the claim window: select k eligible claimants (all of them if no more), each
    /// weighted by the weight fixed when it claimed, with the randomness of the block that
    /// selects (after the claim window: unknown to every claimant when it claimed), and start
    /// the job; refund it if none is eligible. A claimant whose registration does not meet the
    /// requirements is slashed (`_slashUnfit`). A provider claims a job at most once (`claim`).
    function _closeClaims(uint256 jobId, Job storage j, Trail calldata t) internal {
        if (j.state != JobState.Open || block.timestamp <= j.claimDeadline) return;
        uint256 n = t.claimants.length;
        if (n == 0) return; // finalize refunds it
        uint256 k = j.replicas;
        uint256[] memory weights = new uint256[](n);
        uint256 total;
        uint256 eligible;
        uint32 mask;
        Requirements memory req = t.terms.requirements;
        bool verifiedOnly = _verifiedOnly(req);
        for (uint256 i; i < n; ++i) {
            address a = t.claimants[i];
            Provider memory p = _providers[a];
            // Under `verifiedMatching`, an active provider that is not verified claimed what it
            // may not (an unstaking one is skipped below, as before: it may have been verified).
            if (!_declaredFits(p, req) || (verifiedOnly && p.status == ProviderStatus.Active)) {
                // It took a claim slot it could never use: flooding a job's slots with claims
                // that do not fit (to shut honest providers out) costs their stake, also when
                // the claimant started unstaking since (it can still be slashed then).
                _slashUnfit(jobId, a, req.minComputeUnits);
                continue;
            }
            if (!_inStanding(p)) continue;
            weights[i] = uint256(t.weights[i]) + 1;
            total += weights[i];
            eligible += 1;
            mask |= uint32(1 << i);
        }
        uint256 seed;
        if (eligible > k) {
            seed = uint256(keccak256(abi.encode(block.prevrandao, jobId, n)));
            mask = ReplicaDraw.pick(weights, total, k, seed);
        }
        j.selected = mask;
        emit ReplicasSelected(jobId, mask, seed);
        if (mask == 0) {
            _refundAll(jobId, j, t);
        } else {
            j.state = JobState.Running;
        }
    }

    /// @dev The job, checked to accept commits now (selecting the replicas first if due), and
    /// its trail hash.
    function _openCommits(uint256 jobId, Trail calldata t) internal returns (Job storage j, bytes32 h) {
        j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        if (j.state == JobState.Open && block.timestamp > j.claimDeadline) {
            h = _verify(jobId, j, t);
            _closeClaims(jobId, j, t);
        }
        if (j.state != JobState.Running) revert WrongState(jobId, j.state);
        if (block.timestamp > t.terms.commitDeadline) revert CommitWindowClosed(jobId);
        if (h == bytes32(0)) h = _verify(jobId, j, t);
    }

    function _committedMask(Trail calldata t) internal pure returns (uint256 mask) {
        for (uint256 i; i < t.commits.length; ++i) {
            mask |= 1 << t.commits[i].index;
        }
    }

    function _commit(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        bytes32 h,
        uint256 mask,
        uint256 index,
        address provider,
        bytes32 commitment
    ) internal returns (bytes32, uint256) {
        if (index >= 32 || (j.selected >> index) & 1 == 0) revert NotSelected(jobId, index);
        if (t.claimants[index] != provider) revert NotYourReplica(jobId, index);
        if ((mask >> index) & 1 == 1) revert AlreadyCommitted(jobId, index);
        emit ResultCommitted(jobId, provider, index, commitment);
        return (TrailHash.committed(h, index, commitment), mask | (1 << index));
    }

    /// @dev Reveals `batch` on top of the trail's reveals; settles the job when every selected
    /// replica has revealed, or else stores the longer trail.
    function _revealAll(uint256 jobId, Trail calldata t, Reveal[] memory batch, bool challenged) internal {
        Job storage j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        if (j.state != JobState.Running) revert WrongState(jobId, j.state);
        bytes32 h = _verify(jobId, j, t);
        uint256 selectedCount = _popcount(j.selected);
        if (t.commits.length < selectedCount && block.timestamp <= t.terms.commitDeadline) revert RevealNotOpen(jobId);
        if (batch.length != 0 && block.timestamp > t.terms.revealDeadline) revert RevealWindowClosed(jobId);
        uint256 before = t.reveals.length;
        Revealed[] memory all = new Revealed[](before + batch.length);
        uint256 revealedMask;
        for (uint256 i; i < before; ++i) {
            all[i] = t.reveals[i];
            revealedMask |= 1 << all[i].index;
        }
        for (uint256 n; n < batch.length; ++n) {
            Reveal memory r = batch[n];
            if (r.index >= 32 || (revealedMask >> r.index) & 1 == 1) revert NotCommitted(jobId, r.index);
            bytes32 commitment = _commitmentOf(t, r.index);
            if (commitment == bytes32(0)) revert NotCommitted(jobId, r.index);
            address provider = t.claimants[r.index];
            if (keccak256(abi.encode(r.resultRoot, r.workUnits, r.salt, provider)) != commitment) {
                revert CommitmentMismatch(jobId, r.index);
            }
            // More work than the job allows is paid as the maximum: a reveal never fails on it, so
            // a buyer cannot make honest reveals revert (and have them slashed as missed).
            uint64 units = r.workUnits > t.terms.maxWorkUnits ? t.terms.maxWorkUnits : r.workUnits;
            revealedMask |= 1 << r.index;
            all[before + n] = Revealed({index: r.index, resultRoot: r.resultRoot, workUnits: units});
            h = TrailHash.revealed(h, r.index, r.resultRoot, units);
            emit ResultRevealed(jobId, provider, r.index, r.resultRoot, units);
        }
        if (challenged) {
            if (all.length == 0 || (all.length != selectedCount && block.timestamp <= t.terms.revealDeadline)) {
                revert ChallengeIncomplete(jobId);
            }
            if (block.timestamp > uint256(t.terms.revealDeadline) + _checkWindow) revert ChallengeWindowClosed(jobId);
            uint8 challenger = _challengerOf(jobId, j, t, all);
            uint256 bond = _challengeBond(j, t);
            if (bond + _totalEscrow + _totalBalances > type(uint96).max) revert InvalidParameter("bond");
            _totalEscrow += uint96(bond);
            j.state = JobState.Disputed;
            _trails[jobId] = h;
            _disputes[jobId].bond = uint96(bond);
            emit JobDisputed(jobId, challenger, bond);
            _startGame(jobId, j, t, all, 0, challenger);
            _paymentToken.safeTransferFrom(msg.sender, address(this), bond);
        } else if (all.length == selectedCount && msg.sender == j.buyer && _unanimous(all)) {
            // The buyer sent the last reveal and every replica agrees: it accepts the result now.
            // A split waits out the check window whoever reveals last, so a dissenting replica
            // can challenge the majority (a buyer must not settle its sybils' majority at once).
            _decide(jobId, j, t, all, h);
        } else {
            // Every reveal but the buyer's waits for the buyer to check (`finalize`, `challenge`).
            _trails[jobId] = h;
        }
    }

    /// @dev Who challenges: the buyer, or a selected replica that revealed a claim other than
    /// the one with most votes (it disputes the majority it dissents from).
    function _challengerOf(uint256 jobId, Job storage j, Trail calldata t, Revealed[] memory all)
        internal
        view
        returns (uint8)
    {
        if (msg.sender == j.buyer) return _BUYER;
        (bytes32 root, uint64 units,) = _majority(all);
        for (uint256 i; i < all.length; ++i) {
            Revealed memory r = all[i];
            if (t.claimants[r.index] == msg.sender && (r.resultRoot != root || r.workUnits != units)) {
                return uint8(r.index);
            }
        }
        revert CannotChallenge(jobId, msg.sender);
    }

    /// @dev Whether every reveal is the same claim (root and work units).
    function _unanimous(Revealed[] memory reveals) internal pure returns (bool) {
        for (uint256 i = 1; i < reveals.length; ++i) {
            if (reveals[i].resultRoot != reveals[0].resultRoot || reveals[i].workUnits != reveals[0].workUnits) {
                return false;
            }
        }
        return true;
    }

    /// @dev Starts a game of the job's dispute (see `GridmintCourt`): the claim revealed by most
    /// replicas not in `eliminated` (the earliest on a tie) defends, against `challenger` (the
    /// buyer, a replica's claimant index, or `_NEXT`: the first other claim not eliminated).
    /// Returns false, starting nothing, when no other claim is left to challenge.
    function _startGame(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        Revealed[] memory reveals,
        uint256 eliminated,
        uint8 challenger
    ) internal returns (bool) {
        uint256 best = type(uint256).max;
        uint256 bestVotes;
        for (uint256 i; i < reveals.length; ++i) {
            if ((eliminated >> reveals[i].index) & 1 == 1) continue;
            uint256 votes;
            for (uint256 m; m < reveals.length; ++m) {
                if ((eliminated >> reveals[m].index) & 1 == 0 && _sameClaim(reveals[m], reveals[i])) ++votes;
            }
            if (votes > bestVotes) (best, bestVotes) = (i, votes);
        }
        if (best == type(uint256).max) return false;
        Revealed memory d = reveals[best];
        if (challenger == _NEXT) {
            for (uint256 i; i < reveals.length && challenger == _NEXT; ++i) {
                if ((eliminated >> reveals[i].index) & 1 == 0 && !_sameClaim(reveals[i], d)) {
                    challenger = uint8(reveals[i].index);
                }
            }
            if (challenger == _NEXT) return false;
        }
        Dispute storage g = _disputes[jobId];
        uint40 deadline = uint40(block.timestamp + _moveWindow);
        g.deadline = deadline;
        g.phase = DisputePhase.Trace;
        g.defender = uint8(d.index);
        g.challenger = challenger;
        g.depth = 0;
        g.position = 0;
        g.challengerTurn = false;
        g.capped = d.workUnits == t.terms.maxWorkUnits;
        g.node = d.resultRoot;
        g.steerer = challenger == _BUYER ? j.buyer : t.claimants[challenger];
        g.nodeFlops = d.workUnits; // until the trace is opened (`openTrace` checks them)
        delete g.jury;
        g.jury.parties = _partiesOf(j.buyer, t.claimants);
        emit GameStarted(jobId, d.index, challenger, d.resultRoot, d.workUnits, deadline);
        return true;
    }

    /// @dev The job's parties (the buyer, then its claimants), as `JuryState.parties` keeps them.
    function _partiesOf(address buyer, address[] memory claimants) internal pure returns (uint80) {
        address[] memory parties = new address[](claimants.length + 1);
        parties[0] = buyer;
        for (uint256 i; i < claimants.length; ++i) {
            parties[i + 1] = claimants[i];
        }
        return uint80(uint256(keccak256(abi.encode(parties))));
    }

    function _sameClaim(Revealed memory a, Revealed memory b) internal pure returns (bool) {
        return a.resultRoot == b.resultRoot && a.workUnits == b.workUnits;
    }

    function _commitmentOf(Trail calldata t, uint256 index) internal pure returns (bytes32) {
        for (uint256 i; i < t.commits.length; ++i) {
            if (t.commits[i].index == index) return t.commits[i].commitment;
        }
        return bytes32(0);
    }

    /// @dev Pays the majority, or refunds when nobody revealed, or opens a dispute. `reveals`
    /// are every reveal of the job and `h` the trail hash with them, kept by a dispute.
    function _decide(uint256 jobId, Job storage j, Trail calldata t, Revealed[] memory reveals, bytes32 h) internal {
        (bytes32 root, uint64 workUnits, uint256 votes) = _majority(reveals);
        // The majority of the replicas actually selected (fewer than k when fewer were eligible or
        // some left the job), on chain as in the client.
        if (votes * 2 > _popcount(j.selected)) {
            _settle(jobId, j, t, reveals, root, workUnits, 0);
        } else if (reveals.length == 0) {
            _slashNoShows(jobId, j, t, reveals); // nobody revealed: every selected replica missed
            _refundAll(jobId, j, t);
        } else {
            // No majority. Two claims or more: they play it out in the court. One claim (the
            // others did not reveal): nobody contests it, and the buyer had its check window.
            j.state = JobState.Disputed;
            _trails[jobId] = h;
            emit JobDisputed(jobId, _NEXT, 0);
            if (!_startGame(jobId, j, t, reveals, 0, _NEXT)) _settle(jobId, j, t, reveals, root, workUnits, 0);
        }
    }

    /// @dev The (root, workUnits) pair revealed by most replicas, and its count.
    function _majority(Revealed[] memory reveals)
        internal
        pure
        returns (bytes32 bestRoot, uint64 bestUnits, uint256 bestVotes)
    {
        for (uint256 i; i < reveals.length; ++i) {
            uint256 votes = 1;
            for (uint256 m = i + 1; m < reveals.length; ++m) {
                if (reveals[m].resultRoot == reveals[i].resultRoot && reveals[m].workUnits == reveals[i].workUnits) {
                    ++votes;
                }
            }
            if (votes > bestVotes) (bestRoot, bestUnits, bestVotes) = (reveals[i].resultRoot, reveals[i].workUnits, votes);
        }
    }

    /// @dev Pays every selected replica that revealed (root, workUnits), slashes every other
    /// selected replica, releases every claimant, charges the fee on what was paid, refunds the
    /// rest of the escrow and keeps the root as the job's result.
    function _settle(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        Revealed[] memory reveals,
        bytes32 root,
        uint64 workUnits,
        uint256 eliminated
    ) internal {
        uint256 epoch = _currentEpoch();
        (uint256 paid, uint32 paidMask) = _payClaimants(jobId, j, t, reveals, root, workUnits, epoch, eliminated);
        _close(jobId, j, t, root, workUnits, paid, paidMask, epoch);
    }

    /// @dev Ends a job that paid `paid` (to the claimants in `paidMask`): charges the fee on it,
    /// refunds the rest of the escrow, books the epoch's totals and keeps `root` as the result.
    function _close(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        bytes32 root,
        uint64 workUnits,
        uint256 paid,
        uint32 paidMask,
        uint256 epoch
    ) internal {
        uint256 escrow = _escrowOf(j, t);
        uint256 fee = (paid * _feeBps) / BPS;
        uint256 refund = escrow - paid - fee;
        _totalEscrow -= uint96(escrow);
        _totalBalances += uint96(escrow);
        if (refund != 0) _accounts[j.buyer].balance += uint128(refund);
        EpochTotals storage totals = _epochTotals[epoch];
        totals.paid += uint128(paid);
        totals.fees += uint128(fee);
        j.state = JobState.Finalized;
        _trails[jobId] = root;
        emit JobFinalized(jobId, root, workUnits, paidMask, paid, fee, refund);
    }

    /// @dev Releases every claimant, pays the selected ones that revealed (root, workUnits) and
    /// slashes the other selected ones but those in `eliminated` (slashed already, when their
    /// claim lost a game); returns what was paid and to which claimants.
    function _payClaimants(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        Revealed[] memory reveals,
        bytes32 root,
        uint64 workUnits,
        uint256 epoch,
        uint256 eliminated
    ) internal returns (uint256 paid, uint32 paidMask) {
        uint256 agreeing;
        uint256 revealed;
        for (uint256 i; i < reveals.length; ++i) {
            revealed |= 1 << reveals[i].index;
            if (reveals[i].resultRoot == root && reveals[i].workUnits == workUnits) agreeing |= 1 << reveals[i].index;
        }
        uint256 pay = _payFor(t.terms.pricePerUnit, workUnits);
        uint256 selected = j.selected;
        for (uint256 i; i < t.claimants.length; ++i) {
            address a = t.claimants[i];
            Provider storage p = _providers[a];
            p.activeJobs -= 1;
            if ((selected >> i) & 1 == 0) continue;
            if ((agreeing >> i) & 1 == 1) {
                if (p.agreed != type(uint24).max) p.agreed += 1;
                paid += pay;
                paidMask |= uint32(1 << i);
                _creditWork(a, pay, epoch);
            } else if ((eliminated >> i) & 1 == 0) {
                _slash(jobId, j.buyer, a, (revealed >> i) & 1 == 0);
            }
        }
    }

    function _escrowOf(Job storage j, Trail calldata t) internal view returns (uint256) {
        (uint256 payment, uint256 fee) = _escrowFor(t.terms.pricePerUnit, t.terms.maxWorkUnits, j.replicas);
        return payment + fee;
    }

    /// @dev Refunds the whole escrow and releases every claimant.
    function _refundAll(uint256 jobId, Job storage j, Trail calldata t) internal {
        for (uint256 i; i < t.claimants.length; ++i) {
            _providers[t.claimants[i]].activeJobs -= 1;
        }
        uint256 refund = _escrowOf(j, t);
        _totalEscrow -= uint96(refund);
        _totalBalances += uint96(refund);
        _accounts[j.buyer].balance += uint128(refund);
        j.state = JobState.Refunded;
        emit JobRefunded(jobId, refund);
    }

    /// @dev Slashes every selected replica that did not reveal: it missed a deadline.
    function _slashNoShows(uint256 jobId, Job storage j, Trail calldata t, Revealed[] memory reveals) internal {
        uint256 revealed;
        for (uint256 i; i < reveals.length; ++i) {
            revealed |= 1 << reveals[i].index;
        }
        uint256 selected = j.selected;
        for (uint256 i; selected >> i != 0; ++i) {
            if ((selected >> i) & 1 == 1 && (revealed >> i) & 1 == 0) _slash(jobId, j.buyer, t.claimants[i], true);
        }
    }

    function _slash(uint256 jobId, address buyer, address provider, bool missed) internal {
        Provider storage p = _providers[provider];
        uint256 amount = (uint256(p.stake) * _slashBps) / BPS;
        if (missed) _records[provider].missed += 1;
        else _countSlash(provider, p);
        if (amount == 0) return;
        // A missed deadline pays the buyer nothing: a buyer can cause one (data never served, a
        // package that cannot run), and must not profit from it.
        _takeStake(p, amount, buyer, missed ? 0 : (amount * _buyerSlashShareBps) / BPS);
        emit ProviderSlashed(jobId, provider, amount, missed);
    }

    /// @dev Moves `amount` of `p`'s stake into slash credits: `toBuyer` to `buyer`, the rest to
    /// the treasury.
    function _takeStake(Provider storage p, uint256 amount, address buyer, uint256 toBuyer) internal {
        p.stake -= uint96(amount);
        _totalStake -= amount;
        _totalStakeCredit += amount;
        if (toBuyer != 0) _stakeCredit[buyer] += toBuyer;
        _stakeCredit[_treasury] += amount - toBuyer;
    }

    /// @dev Slashes a claimant whose registration does not meet the job's requirements (an honest
    /// provider checks `isEligible` before it claims): `slashBps` of its stake, and at least the
    /// stake a fitting claim would have needed (`minStakePerUnit × minComputeUnits`), up to all
    /// of it; all to the treasury, so no buyer profits from claims on its own job.
    function _slashUnfit(uint256 jobId, address provider, uint32 minComputeUnits) internal {
        Provider storage p = _providers[provider];
        uint256 stake = p.stake;
        uint256 amount = (stake * _slashBps) / BPS;
        uint256 floor = _minStakePerUnit * (minComputeUnits == 0 ? 1 : minComputeUnits);
        if (amount < floor) amount = floor < stake ? floor : stake;
        _countSlash(provider, p);
        if (amount == 0) return;
        _takeStake(p, amount, address(0), 0);
        emit UnfitClaimSlashed(jobId, provider, amount);
    }

    /// @dev Credits payment and the epoch's work of a provider, settling finished epochs first.
    function _creditWork(address provider, uint256 pay, uint256 epoch) internal {
        Account storage a = _accounts[provider];
        if (a.epoch != epoch) {
            _settleRewards(provider, a);
            a.epoch = uint32(epoch);
        }
        a.balance += uint128(pay);
        a.epochPaid += uint96(pay);
    }

    /// @dev Moves a provider's share of its last finished epoch's reward pool into its rewards.
    function _settleRewards(address provider, Account storage a) internal {
        uint256 epoch = a.epoch;
        uint256 mine = a.epochPaid;
        if (mine == 0 || epoch >= _currentEpoch()) return;
        uint256 reward = (mine * _rewardPool(epoch)) / _epochTotals[epoch].paid;
        a.epochPaid = 0;
        if (reward == 0) return;
        _records[provider].rewards += uint128(reward);
        _epochRewards[epoch] += reward;
        emit RewardsSettled(provider, epoch, reward);
    }

    function _popcount(uint32 x) internal pure returns (uint256 c) {
        for (; x != 0; x &= x - 1) ++c;
    }
}
