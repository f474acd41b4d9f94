// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {GridmintExtension} from "./GridmintExtension.sol";
import {GridmintStorage} from "./base/GridmintStorage.sol";
import {Settlement} from "./base/Settlement.sol";
import {IGridmintCourt, IGridmintMarket} from "./interfaces/IGridmint.sol";
import {ReplicaDraw} from "./libraries/ReplicaDraw.sol";
import {TrailHash} from "./libraries/TrailHash.sol";
import {GridToken} from "./tokens/GridToken.sol";
import {
    Account, Job, JobParams, JobState, Provider, Reveal, SignedCommit, Terms, Trail
} from "./libraries/Types.sol";

/// @dev What the market asks of the court it is given.
interface ICourtConfig {
    function configHash() external view returns (bytes32);
}

/// @title Gridmint
/// @notice The settlement layer of the Gridmint compute market: a provider registry with stake,
/// a job market with escrow and commit-reveal redundant verification, slashing, reputation, and
/// rewards paid back out of the fees (never more than them). Clients bind `IGridmint`.
/// @dev The hot path (post, claim, select, commit, reveal, finalize, withdraw) runs here and never
/// pays for an external call; every other call (the registry, dispute resolution, fees and
/// rewards, views) falls through to `GridmintExtension`, delegated to in this contract's storage
/// (see `GridmintStorage`). A job is one storage slot plus its trail hash; its terms, claimants,
/// commitments and reveals travel in calldata as a `Trail` checked against that hash (see
/// Types.sol and `TrailHash`), so a job with k replicas writes two new slots in its whole life.
/// Every state has a deadline after which anyone can move it on; every payout is pull-based. See
/// test/invariant/README.md for the invariants and allowed transitions.
contract Gridmint is Settlement, IGridmintMarket {
    using SafeERC20 for IERC20;

    /// @inheritdoc IGridmintMarket
    address public immutable extension;

    /// @notice Deploys the protocol token (its whole supply to `initialStakeHolder`) and the extension,
    /// both from `c`.
    /// The court must have been built from `c` (with `court` zero): its parameters are this
    /// market's.
    constructor(Config memory c) GridmintStorage(c, new GridToken(c.initialStakeHolder, c.initialStakeSupply)) {
        address court = c.court;
        if (court.code.length == 0) revert InvalidParameter("court");
        c.court = address(0);
        if (ICourtConfig(court).configHash() != keccak256(abi.encode(c))) revert InvalidParameter("court");
        c.court = court;
        extension = address(new GridmintExtension(c, _stakeToken));
    }

    /// @inheritdoc IGridmintMarket
    function escrowFor(uint96 pricePerUnit, uint64 maxWorkUnits, uint8 replicas)
        external
        view
        returns (uint256 payment, uint256 fee)
    {
        return _escrowFor(pricePerUnit, maxWorkUnits, replicas);
    }

    /// @inheritdoc IGridmintMarket
    function postJob(JobParams calldata p) external returns (uint256 jobId) {
        if (p.replicas == 0 || p.replicas > _MAX_REPLICAS) revert InvalidReplicas(p.replicas);
        if (p.pricePerUnit == 0) revert ZeroPrice();
        if (p.maxWorkUnits == 0) revert ZeroWorkUnits();
        if (p.requirements.workloadClass > 7) revert InvalidParameter("workloadClass");
        if (
            p.claimDeadline <= block.timestamp || p.commitDeadline <= p.claimDeadline
                || p.revealDeadline <= p.commitDeadline
        ) revert BadDeadlines();
        // Room for every replica's commit and reveal (a trail admits one change per transaction):
        // a buyer must not post windows honest replicas cannot meet and collect their slashes.
        uint256 minWindow = uint256(_minStepWindow) * (uint256(p.replicas) + 1);
        if (p.commitDeadline - p.claimDeadline < minWindow) {
            revert WindowTooShort(p.commitDeadline - p.claimDeadline, minWindow);
        }
        if (p.revealDeadline - p.commitDeadline < minWindow) {
            revert WindowTooShort(p.revealDeadline - p.commitDeadline, minWindow);
        }
        (uint256 payment, uint256 fee) = _escrowFor(p.pricePerUnit, p.maxWorkUnits, p.replicas);
        uint256 escrow = payment + fee;
        if (escrow + _totalEscrow + _totalBalances > type(uint96).max) revert InvalidParameter("escrow");
        jobId = ++_jobCount;
        // A provider's last claimed job is kept in 32 bits (see `claim`).
        if (jobId > type(uint32).max) revert InvalidParameter("jobCount");
        _jobs[jobId] = Job({
            buyer: msg.sender,
            claimDeadline: p.claimDeadline,
            replicas: p.replicas,
            state: JobState.Open,
            claimants: 0,
            selected: 0
        });
        _trails[jobId] = TrailHash.start(
            jobId,
            Terms({
                requirements: p.requirements,
                pricePerUnit: p.pricePerUnit,
                maxWorkUnits: p.maxWorkUnits,
                commitDeadline: p.commitDeadline,
                revealDeadline: p.revealDeadline
            })
        );
        _totalEscrow += uint96(escrow);
        emit JobPosted(
            jobId,
            msg.sender,
            p.specHash,
            p.dataRoot,
            p.dataPeer,
            p.requirements,
            p.replicas,
            p.pricePerUnit,
            p.maxWorkUnits,
            p.claimDeadline,
            p.commitDeadline,
            p.revealDeadline,
            escrow
        );
        _paymentToken.safeTransferFrom(msg.sender, address(this), escrow);
    }

    /// @inheritdoc IGridmintMarket
    function claim(uint256 jobId) external returns (uint256 index) {
        Job storage j = _jobs[jobId];
        JobState state = j.state;
        if (state == JobState.None) revert UnknownJob(jobId);
        if (state != JobState.Open) revert WrongState(jobId, state);
        if (block.timestamp > j.claimDeadline) revert ClaimWindowClosed(jobId);
        index = j.claimants;
        if (index >= _MAX_CLAIMANTS) revert TooManyClaimants(jobId);
        // Fields of the provider's slot, not the struct: copying it to memory cost ~500 gas.
        Provider storage p = _providers[msg.sender];
        uint256 stake = p.stake;
        uint256 minStake = _minStakePerUnit * p.computeUnits;
        if (!_active(p.status) || stake < minStake) revert NotEligible(jobId, msg.sender);
        // One claim per provider and job: claims go in job order (an Active provider's
        // `lastJobOrUnstakeAt` is the last job it claimed), so no claimant fills the slots alone.
        uint32 last = p.lastJobOrUnstakeAt;
        if (jobId <= last) revert ClaimOutOfOrder(jobId, last);
        p.lastJobOrUnstakeAt = uint32(jobId);
        p.activeJobs += 1;
        j.claimants = uint8(index + 1);
        // The weight is fixed now: stake added after claiming does not steer the draw.
        uint128 weight = ReplicaDraw.claimWeight(stake, minStake, p.agreed, p.slashes);
        _trails[jobId] = TrailHash.claimed(_trails[jobId], msg.sender, weight);
        emit JobClaimed(jobId, msg.sender, index, weight);
    }

    /// @inheritdoc IGridmintMarket
    function selectReplicas(uint256 jobId, Trail calldata t) external {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Open) revert WrongState(jobId, j.state);
        if (block.timestamp <= j.claimDeadline) revert ClaimWindowOpen(jobId);
        if (j.claimants == 0) revert NotFinalizable(jobId);
        _verify(jobId, j, t);
        _closeClaims(jobId, j, t);
    }

    /// @inheritdoc IGridmintMarket
    function commit(uint256 jobId, uint256 index, bytes32 commitment, Trail calldata t) external {
        (Job storage j, bytes32 h) = _openCommits(jobId, t);
        uint256 mask = _committedMask(t);
        (h,) = _commit(jobId, j, t, h, mask, index, msg.sender, commitment);
        _trails[jobId] = h;
    }

    /// @inheritdoc IGridmintMarket
    function commitSigned(uint256 jobId, Trail calldata t, SignedCommit[] calldata commits) external {
        (Job storage j, bytes32 h) = _openCommits(jobId, t);
        uint256 mask = _committedMask(t);
        for (uint256 n; n < commits.length; ++n) {
            SignedCommit calldata c = commits[n];
            if (c.index >= t.claimants.length) revert NotSelected(jobId, c.index);
            address signer = ECDSA.recover(
                MessageHashUtils.toEthSignedMessageHash(commitDigest(jobId, c.index, c.commitment)), c.signature
            );
            if (signer != t.claimants[c.index]) revert BadCommitSignature(jobId, c.index);
            (h, mask) = _commit(jobId, j, t, h, mask, c.index, signer, c.commitment);
        }
        _trails[jobId] = h;
    }

    /// @inheritdoc IGridmintMarket
    function commitDigest(uint256 jobId, uint256 index, bytes32 commitment) public view returns (bytes32) {
        return keccak256(abi.encode("gridmint.commit", block.chainid, address(this), jobId, index, commitment));
    }

    /// @inheritdoc IGridmintMarket
    function reveal(uint256 jobId, uint256 index, bytes32 resultRoot, uint64 workUnits, bytes32 salt, Trail calldata t)
        external
    {
        Reveal[] memory one = new Reveal[](1);
        one[0] = Reveal({index: index, resultRoot: resultRoot, workUnits: workUnits, salt: salt});
        _revealAll(jobId, t, one, false);
    }

    /// @inheritdoc IGridmintMarket
    function revealBatch(uint256 jobId, Trail calldata t, Reveal[] calldata reveals) external {
        _revealAll(jobId, t, reveals, false);
    }

    /// @inheritdoc IGridmintMarket
    function challenge(uint256 jobId, Trail calldata t, Reveal[] calldata reveals) external {
        _revealAll(jobId, t, reveals, true);
    }

    /// @inheritdoc IGridmintMarket
    function finalize(uint256 jobId, Trail calldata t) external {
        Job storage j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        bytes32 h;
        if (j.state == JobState.Open) {
            if (block.timestamp <= j.claimDeadline) revert NotFinalizable(jobId);
            h = _verify(jobId, j, t);
            if (j.claimants == 0) {
                _refundAll(jobId, j, t);
                return;
            }
            _closeClaims(jobId, j, t);
            if (j.state != JobState.Running) return; // nobody eligible: refunded
        } else {
            if (j.state != JobState.Running) revert WrongState(jobId, j.state);
            h = _verify(jobId, j, t);
        }
        if (msg.sender == j.buyer && _unanimous(t.reveals)) {
            // The buyer accepts what the chain has once every replica revealed or the time is up.
            // Reveals that disagree wait out the check window (a dissenting replica may challenge).
            if (t.reveals.length < _popcount(j.selected) && block.timestamp <= t.terms.revealDeadline) {
                revert NotFinalizable(jobId);
            }
        } else if (block.timestamp <= uint256(t.terms.revealDeadline) + _checkWindow) {
            // Anyone else waits out the buyer's check: until then the buyer can challenge.
            revert NotFinalizable(jobId);
        }
        _decide(jobId, j, t, t.reveals, h);
    }

    /// @inheritdoc IGridmintMarket
    function withdraw() external {
        Account storage a = _accounts[msg.sender];
        uint256 amount = a.balance;
        if (amount == 0) revert NothingToWithdraw();
        a.balance = 0;
        _totalBalances -= uint96(amount);
        address to = _payoutOf(msg.sender);
        emit Withdrawn(msg.sender, to, amount);
        _paymentToken.safeTransfer(to, amount);
    }

    /// @notice Every call this contract does not implement runs in `extension`, in this storage;
    /// the court's moves go straight to the court (one delegation, not two: a dispute is dozens of
    /// calls).
    fallback() external {
        bytes4 s = msg.sig;
        bool court = s == IGridmintCourt.openTrace.selector || s == IGridmintCourt.splitNode.selector
            || s == IGridmintCourt.pickPart.selector || s == IGridmintCourt.openLeaf.selector
            || s == IGridmintCourt.advanceDispute.selector
            || s == IGridmintCourt.challengeSurvivor.selector;
        _delegate(court ? _court : extension);
    }
}
