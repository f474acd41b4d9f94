// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Requirements} from "./Types.sol";

/// @notice Every state transition of the protocol.
library Events {
    event ProviderRegistered(
        address indexed provider,
        bytes32 deviceModelHash,
        uint32 memoryMiB,
        uint32 computeUnits,
        uint16 region,
        uint8 classes,
        uint256 stake
    );
    event StakeAdded(address indexed provider, uint256 amount, uint256 stake);
    event UnstakeRequested(address indexed provider, uint256 unstakeAt);
    event StakeWithdrawn(address indexed provider, uint256 amount);
    event PayoutChangeRequested(address indexed provider, address payout, uint256 effectiveAt);
    event PayoutChanged(address indexed provider, address payout);

    event JobPosted(
        uint256 indexed jobId,
        address indexed buyer,
        bytes32 specHash,
        bytes32 dataRoot,
        bytes32 dataPeer,
        Requirements requirements,
        uint8 replicas,
        uint96 pricePerUnit,
        uint64 maxWorkUnits,
        uint40 claimDeadline,
        uint40 commitDeadline,
        uint40 revealDeadline,
        uint256 escrow
    );
    event JobClaimed(uint256 indexed jobId, address indexed provider, uint256 index);
    event ReplicasSelected(uint256 indexed jobId, uint32 selectedMask, uint256 seed);
    event ResultCommitted(uint256 indexed jobId, address indexed provider, uint256 index, bytes32 commitment);
    event ResultRevealed(uint256 indexed jobId, address indexed provider, uint256 index, bytes32 resultRoot, uint64 workUnits);
    event ProviderSlashed(uint256 indexed jobId, address indexed provider, uint256 amount, bool missedDeadline);
    /// @notice Bit i of `paidMask`: claimant i was paid `paid / popcount(paidMask)` (price × workUnits).
    event JobFinalized(
        uint256 indexed jobId,
        bytes32 resultRoot,
        uint64 workUnits,
        uint32 paidMask,
        uint256 paid,
        uint256 fee,
        uint256 refund
    );
    event JobDisputed(uint256 indexed jobId, uint40 disputeDeadline);
    event DisputeResolved(uint256 indexed jobId, bytes32 resultRoot);
    event JobRefunded(uint256 indexed jobId, uint256 refund);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    event FeesCollected(address indexed treasury, uint256 fromEpoch, uint256 toEpoch, uint256 amount);
    event StakeTokenWithdrawn(address indexed account, uint256 amount);

    event RewardsSettled(address indexed provider, uint256 indexed epoch, uint256 amount);
    event RewardsClaimed(address indexed provider, address indexed to, uint256 amount);
}
