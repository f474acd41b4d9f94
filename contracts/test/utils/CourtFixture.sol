// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./Fixture.sol";
import {Dispute, DisputePhase, Provider, Trail} from "../../src/libraries/Types.sol";
import {Leaf, Traces, Tree} from "./Traces.sol";

/// @notice Traces the way a runner commits them (a Merkle tree summing flops over the steps, see
/// `Court`), and the moves of the court's game, for tests that play disputes.
abstract contract CourtFixture is Fixture {
    uint256 internal constant FIRST_JUROR = 5; // providers[5..] judge; jobs use providers[0..5)

    /// A chain of `steps` steps worth `units` work units (each step's input the previous
    /// output); from step `wrongFrom` on (if < steps) the outputs are wrong.
    function traceOf(uint32 steps, uint64 units, uint32 wrongFrom) internal pure returns (Tree memory) {
        return Traces.build(steps, units * 1e9, wrongFrom, "wrong");
    }

    /// What an honest step computes (what a juror re-running it gets).
    function rightOutput(uint32 step, bytes32 input) internal pure returns (bytes32) {
        return Traces.rightOutput(step, input);
    }

    function traceRoot(Tree memory t) internal pure returns (bytes32) {
        return Traces.root(t);
    }

    /// The result root a replica with this trace reveals.
    function claimRoot(Tree memory t) internal pure returns (bytes32) {
        return Traces.claimRoot(t);
    }

    function game(uint256 jobId) internal view returns (Dispute memory) {
        return market.disputeOf(jobId);
    }

    function openTraceOf(uint256 jobId, Tree memory t) internal {
        market.openTrace(jobId, t.outputs, traceRoot(t), t.flops, t.steps);
    }

    /// How many levels the next move descends.
    function moveLevels(uint256 jobId) internal view returns (uint256) {
        uint256 depth = game(jobId).depth;
        uint256 per = market.levelsPerMove();
        return depth < per ? depth : per;
    }

    /// The parts of the disputed node `levels` levels down in tree `t`.
    function partsOf(Tree memory t, uint256 jobId, uint256 levels)
        internal
        view
        returns (bytes32[] memory parts, uint64[] memory flops)
    {
        Dispute memory g = game(jobId);
        uint256 level = g.depth - levels;
        uint256 n = uint256(1) << levels;
        parts = new bytes32[](n);
        flops = new uint64[](n);
        for (uint256 i; i < n; ++i) {
            parts[i] = t.h[level][(uint256(g.position) << levels) + i];
            flops[i] = t.f[level][(uint256(g.position) << levels) + i];
        }
    }

    /// The defender (anyone holding its tree) splits the disputed node.
    function split(uint256 jobId, Tree memory t) internal {
        (bytes32[] memory parts, uint64[] memory flops) = partsOf(t, jobId, moveLevels(jobId));
        market.splitNode(jobId, parts, flops);
    }

    /// `who` picks the part of the disputed node that holds `step`, passing back `t`'s parts.
    function pickAs(address who, uint256 jobId, Tree memory t, uint32 step) internal {
        uint256 levels = moveLevels(jobId);
        (bytes32[] memory parts, uint64[] memory flops) = partsOf(t, jobId, levels);
        uint256 index = (uint256(step) >> (game(jobId).depth - levels)) & ((uint256(1) << levels) - 1);
        vm.prank(who);
        market.pickPart(jobId, index, parts, flops);
    }

    /// The defender splits and `steerer` picks down to `step`.
    function descend(uint256 jobId, Tree memory t, uint32 step, address steerer) internal {
        descendMoves(jobId, t, type(uint256).max, step, steerer);
    }

    /// At most `moves` rounds of the same (a split and a pick each).
    function descendMoves(uint256 jobId, Tree memory t, uint256 moves, uint32 step, address steerer) internal {
        for (uint256 m; m < moves && game(jobId).depth > 0; ++m) {
            split(jobId, t);
            pickAs(steerer, jobId, t, step);
        }
    }

    function openLeafOf(uint256 jobId, Tree memory t, uint32 step) internal {
        if (step >= t.steps) {
            market.openLeaf(jobId, 0, 0, 0);
        } else {
            Leaf memory l = t.leaves[step];
            market.openLeaf(jobId, l.prev, l.inHash, l.outHash);
        }
    }

    /// The whole descent: open the trace, bisect to `step`, open the leaf.
    function bisectTo(uint256 jobId, Tree memory t, uint32 step, address steerer) internal {
        openTraceOf(jobId, t);
        descend(jobId, t, step, steerer);
        openLeafOf(jobId, t, step);
    }

    /// Providers[FIRST_JUROR + i] for i < n claim jury duty; the window passes; the jury is drawn.
    function seatJury(uint256 jobId, uint256 n) internal returns (address[] memory claims) {
        claims = new address[](n);
        uint128[] memory weights = new uint128[](n);
        for (uint256 i; i < n; ++i) {
            claims[i] = providers[FIRST_JUROR + i];
            if (market.providerOf(claims[i]).stake == 0) registerProvider(claims[i]);
            Provider memory p = market.providerOf(claims[i]);
            weights[i] = p.stake;
            vm.prank(claims[i]);
            market.claimJuryDuty(jobId);
        }
        vm.warp(uint256(game(jobId).deadline) + 1);
        market.drawJury(jobId, claims, weights, trail(jobId));
    }

    function voteSalt(address juror) internal pure returns (bytes32) {
        return keccak256(abi.encode("vote salt", juror));
    }

    /// Every seat commits `outputs[seat]` (bytes32(0): the juror never commits), the votes are
    /// revealed after the commit deadline, and the game is moved on.
    function vote(uint256 jobId, bytes32[] memory outputs) internal {
        uint256 seats = game(jobId).jury.seats;
        for (uint256 s; s < seats; ++s) {
            if (outputs[s] == bytes32(0)) continue;
            address juror = market.jurorOf(jobId, s);
            bytes32 digest = market.voteDigest(jobId, s, outputs[s], voteSalt(juror), juror);
            vm.prank(juror);
            market.commitVote(jobId, s, digest);
        }
        vm.warp(uint256(game(jobId).deadline) + 1);
        for (uint256 s; s < seats; ++s) {
            if (outputs[s] == bytes32(0)) continue;
            address juror = market.jurorOf(jobId, s);
            vm.prank(juror);
            market.revealVote(jobId, s, outputs[s], voteSalt(juror));
        }
        // A seat that never voted: the verdict waits out the reveal window.
        if (game(jobId).jury.revealedSeats + 1 != 1 << seats) {
            vm.warp(uint256(game(jobId).deadline) + market.moveWindow() + 1);
        }
        market.advanceDispute(jobId, trail(jobId));
    }

    /// Every seat votes `output`.
    function voteAll(uint256 jobId, bytes32 output) internal {
        bytes32[] memory outputs = new bytes32[](game(jobId).jury.seats);
        for (uint256 s; s < outputs.length; ++s) outputs[s] = output;
        vote(jobId, outputs);
    }

    /// A tree's answer for step `step`, as the court asks the jury: its output hash, its flops
    /// and the trace's length (all zero past the last step).
    function answer(Tree memory t, uint32 step) internal pure returns (bytes32) {
        (bytes32 out, uint64 flops) = step >= t.steps ? (bytes32(0), uint64(0)) : (t.leaves[step].outHash, t.leaves[step].flops);
        return keccak256(abi.encode(out, flops, t.steps));
    }

    /// The right answer for step `step`: what an honest juror computes (an honest trace's).
    function truth(Tree memory honest, uint32 step) internal pure returns (bytes32) {
        return answer(honest, step);
    }

    function phase(uint256 jobId) internal view returns (DisputePhase) {
        return game(jobId).phase;
    }

    /// The current move's deadline passes and anyone moves the game on.
    function timeOut(uint256 jobId) internal {
        vm.warp(uint256(game(jobId).deadline) + 1);
        advance(jobId);
    }

    function advance(uint256 jobId) internal {
        Trail memory t = trail(jobId);
        market.advanceDispute(jobId, t);
    }
}
