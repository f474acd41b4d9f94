// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @notice A step of a trace: its flops, the step it takes its input from (1 + index; 0: the
/// package), and the hashes of its input and output.
struct Leaf {
    uint64 flops;
    uint32 prev;
    bytes32 inHash;
    bytes32 outHash;
}

/// @notice A trace as a runner commits it (see `Court`): a Merkle tree summing flops.
struct Tree {
    bytes32[][] h; // h[level][position]; level 0 the leaves, padded to 2^depth with zeros
    uint64[][] f;
    uint8 depth;
    uint32 steps;
    uint64 flops;
    Leaf[] leaves;
}

/// @notice Builds traces for tests and the invariant handler.
library Traces {
    /// A chain of `steps` steps worth `flops` (each step's input the previous output); from step
    /// `wrongFrom` on (if < steps) the outputs are wrong, differently for each `tag`.
    function build(uint32 steps, uint64 flops, uint32 wrongFrom, bytes32 tag) internal pure returns (Tree memory t) {
        t.steps = steps;
        t.flops = flops;
        t.leaves = new Leaf[](steps);
        uint64 per = t.flops / steps;
        bytes32 prevOut = keccak256("the package's input");
        for (uint32 i; i < steps; ++i) {
            Leaf memory l = t.leaves[i];
            l.flops = i == 0 ? t.flops - per * (steps - 1) : per;
            l.prev = i;
            l.inHash = prevOut;
            l.outHash = i >= wrongFrom ? keccak256(abi.encode(tag, i, prevOut)) : rightOutput(i, prevOut);
            prevOut = l.outHash;
        }
        while ((uint256(1) << t.depth) < steps) ++t.depth;
        t.h = new bytes32[][](t.depth + 1);
        t.f = new uint64[][](t.depth + 1);
        uint256 width = uint256(1) << t.depth;
        t.h[0] = new bytes32[](width);
        t.f[0] = new uint64[](width);
        for (uint32 i; i < steps; ++i) {
            Leaf memory l = t.leaves[i];
            t.h[0][i] = keccak256(abi.encode(i, l.flops, l.prev, l.inHash, l.outHash));
            t.f[0][i] = l.flops;
        }
        for (uint256 level = 1; level <= t.depth; ++level) {
            width /= 2;
            t.h[level] = new bytes32[](width);
            t.f[level] = new uint64[](width);
            for (uint256 p; p < width; ++p) {
                (bytes32 lh, uint64 lf) = (t.h[level - 1][2 * p], t.f[level - 1][2 * p]);
                (bytes32 rh, uint64 rf) = (t.h[level - 1][2 * p + 1], t.f[level - 1][2 * p + 1]);
                t.h[level][p] = keccak256(abi.encode(lh, lf, rh, rf));
                t.f[level][p] = lf + rf;
            }
        }
    }

    /// What an honest step computes (what a juror re-running it gets).
    function rightOutput(uint32 step, bytes32 input) internal pure returns (bytes32) {
        return keccak256(abi.encode("step", step, input));
    }

    function root(Tree memory t) internal pure returns (bytes32) {
        return t.h[t.depth][0];
    }

    /// The result root a replica with this trace reveals.
    function claimRoot(Tree memory t) internal pure returns (bytes32) {
        return keccak256(abi.encode(root(t), t.flops, t.steps));
    }
}
