// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {JobState} from "./Types.sol";

// Registry
error AlreadyRegistered(address provider);
error NotRegistered(address provider);
error StakeTooLow(uint256 stake, uint256 required);
error InvalidHardware();
error InvalidRegion(uint16 region);
error NotUnstaking(address provider);
error CooldownActive(uint256 until);
error HasActiveJobs(uint256 count);
error NoPendingPayout(address provider);
error PayoutNotYetEffective(uint256 effectiveAt);
error ZeroAddress();
error ZeroAmount();

// Market
error InvalidReplicas(uint256 replicas);
error ZeroPrice();
error ZeroWorkUnits();
error BadDeadlines();
error UnknownJob(uint256 jobId);
error WrongState(uint256 jobId, JobState state);
error ClaimWindowClosed(uint256 jobId);
error ClaimWindowOpen(uint256 jobId);
error TooManyClaimants(uint256 jobId);
error NotEligible(uint256 jobId, address provider);
error NotSelected(uint256 jobId, uint256 index);
error NotYourReplica(uint256 jobId, uint256 index);
error AlreadyCommitted(uint256 jobId, uint256 index);
error CommitWindowClosed(uint256 jobId);
error RevealNotOpen(uint256 jobId);
error RevealWindowClosed(uint256 jobId);
error NotCommitted(uint256 jobId, uint256 index);
error CommitmentMismatch(uint256 jobId, uint256 index);
error BadCommitSignature(uint256 jobId, uint256 index);
error WorkUnitsOverMax(uint256 reported, uint256 max);
error NotFinalizable(uint256 jobId);
/// The trail passed does not hash to the job's trail: rebuild it from the job's events.
error TrailMismatch(uint256 jobId);
error NotArbiter(address caller);
error NotBuyer(uint256 jobId, address caller);
error ChallengeIncomplete(uint256 jobId);
error DisputeOpen(uint256 jobId);
error NothingToWithdraw();

// Admin
error NotGovernor(address caller);
error InvalidParameter(string name);
