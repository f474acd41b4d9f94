// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Court} from "./Court.sol";
import {DeviceCheck, Dispute, DisputePhase, Provider, ProviderStatus} from "../libraries/Types.sol";

/// @title Device checks
/// @notice A provider's declared memory, compute and classes are challenged: a check opened in
/// block `b` asks its device for a computation seeded by `b`'s hash (nobody knows it when the
/// check is opened) that fills 90% of the declared memory and walks it, in the highest class it
/// declared, answered with a Merkle root before a deadline derived from the declared figures
/// (`_checkDeadline`). The answer's block hash then seeds both the rows a jury re-runs and the
/// jury's draw, from the jury pool as for a disputed step (`Jury`, under the case id
/// `_CHECK_CASE | provider`): the jurors fetch the sampled rows from the provider, re-run them and
/// vote. More than half the seats voting that the rows hold make the provider `Verified`; more
/// than half that they do not slash it and leave it unverified (`GridmintCourt.closeDeviceCheck`);
/// no answer by the deadline leaves it unverified and counts a miss. A provider opens its own
/// check at any time none is open; anyone opens a verified provider's next one once it is due, at
/// a random time about a day after its last pass.
abstract contract DeviceChecks is Court {
    /// @notice See `IGridmintCourt`.
    function openDeviceCheck(address provider) external delegated {
        Provider storage p = _providers[provider];
        if (!_active(p.status)) revert NotRegistered(provider);
        DeviceCheck storage c = _deviceChecks[provider];
        if (c.seedBlock != 0) revert DeviceCheckOpen(provider);
        if (msg.sender != provider && (p.status != ProviderStatus.Verified || block.timestamp < c.dueAt)) {
            revert DeviceCheckNotDue(provider, c.dueAt);
        }
        uint256 deadline = block.timestamp + _checkDeadline(p.memoryMiB, p.computeUnits);
        c.seedBlock = uint32(block.number);
        c.deadline = uint40(deadline);
        c.answerBlock = 0;
        c.root = bytes32(0);
        // Its stake stays until the check ends: a provider cannot leave before the verdict.
        p.activeJobs += 1;
        emit DeviceCheckOpened(provider, block.number, deadline, p.memoryMiB, p.computeUnits, p.classes);
    }

    /// @notice See `IGridmintCourt`.
    function answerDeviceCheck(bytes32 root) external delegated {
        DeviceCheck storage c = _deviceChecks[msg.sender];
        uint256 seedBlock = c.seedBlock;
        if (seedBlock == 0 || c.root != bytes32(0)) revert NoDeviceCheck(msg.sender);
        // The seed is the hash of the opening block: an answer in that block could not know it.
        if (block.number <= seedBlock) revert DeviceCheckNotSeeded(msg.sender);
        if (block.timestamp > c.deadline) revert MoveTooLate(_CHECK_CASE | uint160(msg.sender));
        if (root == bytes32(0)) revert InvalidParameter("root");
        c.root = root;
        c.answerBlock = uint32(block.number);
        uint256 caseId = _CHECK_CASE | uint160(msg.sender);
        delete _disputes[caseId]; // empty already (a check's close deletes it): kept so, whatever ran before
        Dispute storage g = _disputes[caseId];
        // The jurors' window: a move's, plus the time the provider had to answer (it opens the
        // sampled rows by computing the challenge a second time once the samples are known).
        Provider storage p = _providers[msg.sender];
        uint40 deadline = uint40(block.timestamp + _moveWindow + _checkDeadline(p.memoryMiB, p.computeUnits));
        g.phase = DisputePhase.JuryVote;
        g.deadline = deadline;
        g.node = checkPassDigest(root);
        // This block's hash seeds the samples and the jury's draw: nobody knew it at the answer.
        g.jury.seedBlock = uint32(block.number);
        g.jury.parties = _partiesOf(msg.sender, new address[](0));
        emit DeviceCheckAnswered(msg.sender, caseId, root, block.number, deadline);
    }

    /// @notice See `IGridmintCourt`.
    function checkPassDigest(bytes32 root) public pure returns (bytes32) {
        return keccak256(abi.encode("gridmint.device-check.pass", root));
    }

    /// @notice See `IGridmintCourt`.
    function deviceCheckOf(address provider) external view returns (DeviceCheck memory) {
        return _deviceChecks[provider];
    }

    /// @notice See `IGridmintCourt`.
    function deviceCheckDeadline(uint32 memoryMiB, uint32 computeUnits) external pure returns (uint256) {
        return _checkDeadline(memoryMiB, computeUnits);
    }

    /// @notice See `IGridmintCourt`.
    function closeDeviceCheck(address provider) external delegated {
        DeviceCheck storage c = _deviceChecks[provider];
        if (c.seedBlock == 0) revert NoDeviceCheck(provider);
        uint256 caseId = _CHECK_CASE | uint160(provider);
        Provider storage p = _providers[provider];
        bool answered = c.root != bytes32(0);
        bool passed;
        bool failed;
        address[] memory paid;
        uint256 seed;
        if (!answered) {
            if (block.timestamp <= c.deadline) revert DisputeOpen(caseId);
            // A device that was busy, or offline, when someone opened its check loses its
            // verification, not stake: a liar gains nothing by staying silent, and an honest
            // provider cannot be made to lose stake by a check it did not ask for.
            _records[provider].missed += 1;
        } else {
            Dispute storage g = _disputes[caseId];
            bool allRevealed = g.jury.revealedSeats == g.jury.takenSeats;
            if (block.timestamp <= uint256(g.deadline) + (allRevealed ? 0 : _moveWindow)) revert DisputeOpen(caseId);
            // A verdict needs more than half the seats on its side: a few members alone (when
            // others do not come) decide nothing. Without one the check is void.
            uint256 quorum = uint256(_jurySize) / 2 + 1;
            passed = g.jury.votesFor >= quorum;
            failed = g.jury.votesAgainst >= quorum;
            if (passed || failed) {
                paid = _releaseJury(caseId, g, passed);
            } else {
                _releaseJuryVoid(caseId, g);
            }
            seed = g.jury.seed;
            delete _disputes[caseId];
        }
        p.activeJobs -= 1;
        c.seedBlock = 0;
        c.deadline = 0;
        c.answerBlock = 0;
        c.root = bytes32(0);
        if (passed) {
            if (p.status == ProviderStatus.Active) p.status = ProviderStatus.Verified;
            // From the jury's seed (a block hash) and the provider only: the closer cannot steer it.
            uint256 r = uint256(keccak256(abi.encode(seed, provider)));
            uint256 due = block.timestamp + _CHECK_INTERVAL / 2 + r % _CHECK_INTERVAL;
            c.dueAt = uint40(due);
            emit DeviceCheckPassed(provider, due);
            return;
        }
        if (p.status == ProviderStatus.Verified && (failed || !answered)) p.status = ProviderStatus.Active;
        if (failed) {
            _payJurors(paid, _slashLoser(caseId, address(0), provider, paid.length != 0));
            emit DeviceCheckFailed(provider, true);
        } else if (!answered) {
            emit DeviceCheckFailed(provider, false);
        } else {
            // Void: due again in half an interval, not at once (a void check is no reason to
            // check it again and again).
            c.dueAt = uint40(block.timestamp + _CHECK_INTERVAL / 2);
            emit DeviceCheckVoid(provider);
        }
    }

    /// @dev Releases the seats of a void check's jury: the jurors that revealed are released as
    /// they are (no side won, so none voted against a majority); those that did not are slashed.
    function _releaseJuryVoid(uint256 caseId, Dispute storage g) internal {
        uint256 taken = g.jury.takenSeats;
        for (uint256 s; taken >> s != 0; ++s) {
            if ((taken >> s) & 1 == 0) continue;
            address juror = _jurors[caseId][s].juror;
            delete _jurors[caseId][s];
            _providers[juror].activeJobs -= 1;
            if ((g.jury.revealedSeats >> s) & 1 == 0) {
                delete _votes[caseId][s];
                _slashJuror(caseId, juror, true);
            }
        }
    }
}
