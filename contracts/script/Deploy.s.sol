// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vm} from "../test/utils/Vm.sol";
import {Gridmint} from "../src/Gridmint.sol";
import {GridmintStorage} from "../src/base/GridmintStorage.sol";
import {IGridmint} from "../src/interfaces/IGridmint.sol";
import {MockStablecoin} from "../src/tokens/MockStablecoin.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice Deploys the market (and, without PAYMENT_TOKEN, a mock stablecoin) and writes
/// deployments/<chain id>.json, which the Rust side reads:
///   forge script script/Deploy.s.sol --rpc-url $RPC --broadcast --private-key $KEY
/// Environment: DEPLOYER_KEY (required with --broadcast), PAYMENT_TOKEN, TREASURY, ARBITER.
contract Deploy {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external {
        uint256 key = vm.envOr("DEPLOYER_KEY", uint256(0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80));
        address deployer = vm.addr(key);
        uint256 startBlock = block.number;
        vm.startBroadcast(key);
        address payment = vm.envOr("PAYMENT_TOKEN", address(0));
        if (payment == address(0)) payment = address(new MockStablecoin());
        Gridmint market = new Gridmint(
            GridmintStorage.Config({
                paymentToken: IERC20(payment),
                treasury: vm.envOr("TREASURY", deployer),
                arbiter: vm.envOr("ARBITER", deployer),
                initialStakeHolder: deployer,
                initialStakeSupply: 1e27,
                minStakePerUnit: 1e16,
                unstakeCooldown: 7 days,
                payoutDelay: 2 days,
                disputeWindow: 3 days,
                feeBps: 250,
                slashBps: 1_000,
                buyerSlashShareBps: 5_000,
                epochLength: 1 days,
                initialEpochCap: 100_000e18,
                halvingEpochs: 365,
                rewardPerFee: 1e13,
                minStepWindow: 12,
                checkWindow: 1 hours,
                challengeBondBps: 1_000
            })
        );
        vm.stopBroadcast();
        string memory json = string.concat(
            "{\n  \"chainId\": ", vm.toString(block.chainid),
            ",\n  \"startBlock\": ", vm.toString(startBlock),
            ",\n  \"market\": \"", vm.toString(address(market)),
            "\",\n  \"paymentToken\": \"", vm.toString(payment),
            "\",\n  \"stakeToken\": \"", vm.toString(address(IGridmint(address(market)).stakeToken())),
            "\"\n}\n"
        );
        vm.writeFile(string.concat("deployments/", vm.toString(block.chainid), ".json"), json);
    }
}
