// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "../utils/Test.sol";
import {Traces} from "../utils/Traces.sol";

/// @notice The trace tree the court checks is the one the runner builds (Rust,
/// `gridmint_runner::trace`): both compute this vector.
contract TraceVectorTest is Test {
    /// The same root as crates/runner/tests/trace_vector.txt.
    bytes32 internal constant ROOT = 0xa8b525c5d4e6487c5fa490dd80152039e5019335b2be820ab4a5ac47dbc2174b;

    function test_traceVector() public pure {
        assertEq(Traces.root(Traces.build(8, 5e9, 8, "wrong")), ROOT, "the runner's tree");
    }
}
