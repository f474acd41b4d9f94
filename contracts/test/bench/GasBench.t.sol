// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {JobParams} from "../../src/libraries/Types.sol";
import {Gridmint} from "../../src/Gridmint.sol";

/// @notice Gas of one complete job lifecycle (post, claims, commits, reveals, finalize;
/// withdrawals excluded) with k = 1 and k = 3, written to target/bench/gas.json.
/// `execution` is what each call spends inside the EVM; `total` adds each transaction's
/// 21,000 base and calldata cost, i.e. what the receipts would show (before storage refunds).
/// Measured on the market's second job, when the buyer's, treasury's and providers' account
/// slots already exist: the steady state of a running network.
contract GasBench is Fixture {
    bytes32 internal constant ROOT = keccak256("bench");

    uint256 internal execution;
    uint256 internal total;

    function _call(address from, bytes memory data) internal {
        vm.prank(from);
        uint256 before = gasleft();
        (bool ok, bytes memory err) = address(market).call(data);
        uint256 used = before - gasleft();
        if (!ok) {
            assembly {
                revert(add(err, 32), mload(err))
            }
        }
        execution += used;
        total += used + 21_000 + _calldataGas(data);
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 g) {
        for (uint256 i; i < data.length; ++i) g += data[i] == 0 ? 4 : 16;
    }

    function _lifecycle(uint8 k) internal returns (uint256 exec, uint256 tot) {
        execution = 0;
        total = 0;
        JobParams memory p = params(k);
        uint256 jobId = market.jobCount() + 1;
        _call(buyer, abi.encodeCall(Gridmint.postJob, (p)));
        for (uint256 i; i < k; ++i) _call(providers[i], abi.encodeCall(Gridmint.claim, (jobId)));
        vm.warp(block.timestamp + 11);
        for (uint256 i; i < k; ++i) {
            bytes32 c = keccak256(abi.encode(ROOT, uint64(700), salt(providers[i]), providers[i]));
            _call(providers[i], abi.encodeCall(Gridmint.commit, (jobId, i, c)));
        }
        for (uint256 i; i < k; ++i) {
            _call(providers[i], abi.encodeCall(Gridmint.reveal, (jobId, i, ROOT, uint64(700), salt(providers[i]))));
        }
        _call(address(this), abi.encodeCall(Gridmint.finalize, (jobId)));
        return (execution, total);
    }

    function test_gasOfAJobLifecycle() public {
        registerAll(3);
        _lifecycle(3); // warm-up: first job creates the account slots
        vm.warp(block.timestamp + 300);
        (uint256 exec1, uint256 total1) = _lifecycle(1);
        vm.warp(block.timestamp + 300);
        (uint256 exec3, uint256 total3) = _lifecycle(3);
        string memory json = string.concat(
            "{\"k1\": ", vm.toString(total1), ", \"k3\": ", vm.toString(total3),
            ", \"k1_execution\": ", vm.toString(exec1), ", \"k3_execution\": ", vm.toString(exec3),
            ", \"target_k3\": 450000}"
        );
        vm.writeFile("../target/bench/gas.json", json);
    }
}
