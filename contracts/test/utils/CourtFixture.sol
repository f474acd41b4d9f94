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
        market.openTrace(jobId, traceRoot(t), t.flops, t.steps);
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

    /// What a juror that takes a seat and never reveals commits (see `vote`).
    bytes32 internal constant ABSENT = keccak256("commits, never reveals");

    /// The jurors `seatJury` expects to take the seats, by seat (a member may hold several).
    address[] internal jury;

    /// Providers[FIRST_JUROR + i] for i < n enter the jury pool.
    function joinPool(uint256 n) internal {
        enterJuryPool(FIRST_JUROR, n);
    }

    /// After the leaf: of the n pool members providers[FIRST_JUROR..+n) (entered with `joinPool`
    /// before), the best ticket for each seat comes for it (what an honest client does: it
    /// computes its rank for every seat). The block moves past the seed's.
    function seatJury(uint256 jobId, uint256 n) internal returns (address[] memory) {
        vm.roll(vm.getBlockNumber() + 1);
        delete jury;
        uint256 size = market.jurySize();
        uint64[][] memory tickets = new uint64[][](n);
        for (uint256 i; i < n; ++i) {
            bool eligible;
            (tickets[i], eligible) = market.juryTicketsOf(jobId, providers[FIRST_JUROR + i]);
            require(eligible, "a pool member is eligible");
        }
        for (uint256 s; s < size; ++s) {
            uint256 best;
            for (uint256 i = 1; i < n; ++i) {
                if (tickets[i][s] < tickets[best][s]) best = i;
            }
            jury.push(providers[FIRST_JUROR + best]);
        }
        return jury;
    }

    /// The job's parties as `commitVote` takes them: its buyer, then its claimants.
    function partiesOf(uint256 jobId) internal view returns (address[] memory parties) {
        address[] memory claimants = trail(jobId).claimants;
        parties = new address[](claimants.length + 1);
        parties[0] = market.jobOf(jobId).buyer;
        for (uint256 i; i < claimants.length; ++i) parties[i + 1] = claimants[i];
    }

    function voteSalt(address juror) internal pure returns (bytes32) {
        return keccak256(abi.encode("vote salt", juror));
    }

    /// Seat `s`'s juror (`jury[s]`) votes `outputs[s]` (bytes32(0): it never comes for it;
    /// `ABSENT`: it commits and never reveals): the commitments take the seats, the votes are
    /// revealed after the commit deadline, and the game is moved on.
    function vote(uint256 jobId, bytes32[] memory outputs) internal {
        address[] memory parties = partiesOf(jobId);
        for (uint256 s; s < jury.length; ++s) {
            if (outputs[s] == bytes32(0)) continue;
            address juror = jury[s];
            bytes32 digest = market.voteDigest(jobId, outputs[s], voteSalt(juror), juror);
            vm.prank(juror);
            assertTrue(market.commitVote(jobId, s, digest, parties), "seated");
            assertEq(market.juryOf(jobId)[s].juror, juror, "the juror holds the seat it took");
        }
        vm.warp(uint256(game(jobId).deadline) + 1);
        for (uint256 s; s < jury.length; ++s) {
            if (outputs[s] == bytes32(0) || outputs[s] == ABSENT) continue;
            address juror = jury[s];
            vm.prank(juror);
            market.revealVote(jobId, s, outputs[s], voteSalt(juror));
        }
        // A seat that never revealed: the verdict waits out the reveal window.
        if (game(jobId).jury.revealedSeats != game(jobId).jury.takenSeats) {
            vm.warp(uint256(game(jobId).deadline) + market.moveWindow() + 1);
        }
        market.advanceDispute(jobId, trail(jobId));
    }

    /// Every seat votes `output`.
    function voteAll(uint256 jobId, bytes32 output) internal {
        bytes32[] memory outputs = new bytes32[](jury.length);
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
