// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ExtensionBase} from "./ExtensionBase.sol";
import {IGridmintExtension} from "../interfaces/IGridmint.sol";
import {Dispute, Job, JobState, Revealed, Trail} from "../libraries/Types.sol";

/// @title Dispute resolution
/// @notice The arbiter settles a disputed job, or anyone ends one the arbiter left past its
/// deadline; either way the challenge bond, if any, is released.
abstract contract Disputes is ExtensionBase, IGridmintExtension {
    /// @inheritdoc IGridmintExtension
    function resolveDispute(uint256 jobId, bytes32 resultRoot, uint64 workUnits, Trail calldata t)
        external
        viaMarket
    {
        if (msg.sender != _arbiter) revert NotArbiter(msg.sender);
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        _verify(jobId, j, t);
        Revealed[] memory reveals = t.reveals;
        // The arbiter names the work too: a replica that revealed the right root with other units
        // (a front-runner claiming the maximum, say) must not set what the honest ones are paid,
        // nor get them slashed as dissenters.
        // Whether the arbiter upheld the majority the buyer challenged: then the buyer lost.
        (bytes32 root, uint64 units, uint256 votes) = _majority(reveals);
        bool upheld = votes * 2 > _popcount(j.selected) && root == resultRoot && units == workUnits;
        emit DisputeResolved(jobId, resultRoot);
        _settle(jobId, j, t, reveals, resultRoot, workUnits);
        j.state = JobState.Resolved;
        _releaseBond(jobId, j, t, reveals, upheld ? resultRoot : bytes32(0), workUnits);
    }

    /// @inheritdoc IGridmintExtension
    function expireDispute(uint256 jobId, Trail calldata t) external viaMarket {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        Dispute memory d = _disputes[jobId];
        if (block.timestamp <= d.deadline) revert DisputeOpen(jobId);
        _verify(jobId, j, t);
        Revealed[] memory reveals = t.reveals;
        (bytes32 root, uint64 units, uint256 votes) = _majority(reveals);
        if (d.challenged && votes * 2 > _popcount(j.selected)) {
            // Nobody ruled against the majority: it stands, and nobody lost the challenge.
            _settle(jobId, j, t, reveals, root, units);
        } else {
            // Nobody ruled and there is no majority: the buyer holds results it could not prove
            // wrong, so it pays every replica that revealed (a buyer must not keep results for
            // free by making a tie, its own sybil dissenting), each for the work it reported
            // itself, within the job's maximum: no revealer sets another's pay (a sybil reporting
            // no work must not zero the honest replica's). Those that did not reveal are slashed
            // as no-shows; nobody who revealed is.
            _payEveryRevealer(jobId, j, t, reveals);
        }
        _releaseBond(jobId, j, t, reveals, bytes32(0), 0);
    }

    /// @dev Releases every claimant, pays each selected replica that revealed for the work it
    /// reported (capped at the maximum when revealed), slashes the selected ones that did not
    /// reveal, and ends the job with no agreed root.
    function _payEveryRevealer(uint256 jobId, Job storage j, Trail calldata t, Revealed[] memory reveals) internal {
        uint256 epoch = _currentEpoch();
        uint256 selected = j.selected;
        uint256 paid;
        uint32 paidMask;
        for (uint256 i; i < t.claimants.length; ++i) {
            address a = t.claimants[i];
            _providers[a].activeJobs -= 1;
            if ((selected >> i) & 1 == 0) continue;
            bool revealed;
            for (uint256 r; r < reveals.length; ++r) {
                if (reveals[r].index != i) continue;
                uint256 pay = uint256(t.terms.pricePerUnit) * reveals[r].workUnits;
                paid += pay;
                paidMask |= uint32(1 << i);
                _creditWork(a, pay, epoch);
                revealed = true;
                break;
            }
            if (!revealed) _slash(jobId, j.buyer, a, true);
        }
        _close(jobId, j, t, bytes32(0), 0, paid, paidMask, epoch);
    }

    /// @inheritdoc IGridmintExtension
    function disputeOf(uint256 jobId) external view returns (Dispute memory) {
        return _disputes[jobId];
    }

    /// @dev Releases the job's challenge bond: to the replicas that revealed (`upheldRoot`,
    /// `upheldUnits`) in equal shares (the rest to the treasury) when the buyer lost its
    /// challenge, else back to the buyer.
    function _releaseBond(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        Revealed[] memory reveals,
        bytes32 upheldRoot,
        uint64 upheldUnits
    ) internal {
        uint256 bond = _disputes[jobId].bond;
        if (bond == 0) return;
        _disputes[jobId].bond = 0;
        _totalEscrow -= uint96(bond);
        _totalBalances += uint96(bond);
        if (upheldRoot == bytes32(0)) {
            _accounts[j.buyer].balance += uint128(bond);
            emit ChallengeBondReleased(jobId, false, bond);
            return;
        }
        uint256 count;
        for (uint256 i; i < reveals.length; ++i) {
            if (reveals[i].resultRoot == upheldRoot && reveals[i].workUnits == upheldUnits) ++count;
        }
        uint256 share = bond / count; // count > 0: the upheld root is the majority's
        for (uint256 i; i < reveals.length; ++i) {
            if (reveals[i].resultRoot == upheldRoot && reveals[i].workUnits == upheldUnits) {
                _accounts[t.claimants[reveals[i].index]].balance += uint128(share);
            }
        }
        _accounts[_treasury].balance += uint128(bond - share * count);
        emit ChallengeBondReleased(jobId, true, bond);
    }
}
