// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vm} from "../test/utils/Vm.sol";
import {Gridmint} from "../src/Gridmint.sol";
import {GridmintCourt} from "../src/GridmintCourt.sol";
import {GridmintStorage} from "../src/base/GridmintStorage.sol";
import {IGridmint} from "../src/interfaces/IGridmint.sol";
import {MockStablecoin} from "../src/tokens/MockStablecoin.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice Deploys the market and writes deployments/<chain id>.json, which the Rust side reads:
///   DEPLOYER_KEY=… TREASURY=0x… PAYMENT_TOKEN=0x… \
///     forge script script/Deploy.s.sol --rpc-url $RPC --broadcast
/// Every role is explicit: the script has no default key, treasury or token (a default once made
/// anvil's public key the deployer, arbiter and treasury, and the payment token one
/// anyone can mint). On the local chain only (chain id 31337), MOCK_PAYMENT_TOKEN=true deploys the
/// mock stablecoin instead of naming a token. (The app's local network does not use this script:
/// it deploys through the Rust bindings, `gridmint_chain::deployment::local_config`.) There is no
/// arbiter: disputes are settled by the court (`GridmintCourt`), deployed first from the same config.
contract Deploy {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// anvil's first well-known account: its key is public, so it holds no role off the local chain.
    address internal constant ANVIL_ACCOUNT_0 = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;

    /// Whether `a` is one of the ten accounts of anvil's public test mnemonic (their keys are
    /// printed by every anvil).
    function isPublicTestAccount(address a) public pure returns (bool) {
        return a == ANVIL_ACCOUNT_0 || a == 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
            || a == 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC || a == 0x90F79bf6EB2c4f870365E785982E1f101E93b906
            || a == 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65 || a == 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc
            || a == 0x976EA74026E726554dB657fA54763abd0C3a0aa9 || a == 0x14dC79964da2C08b23698B3D3cc7Ca32193d9955
            || a == 0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f || a == 0xa0Ee7A142d267C1f36714E4a8F75612F20a79720;
    }
    uint256 internal constant LOCAL_CHAIN_ID = 31337;

    error MissingRole(string name);
    error PublicKeyRole(string name);
    error MockTokenOffLocalChain(uint256 chainId);
    error MockAndNamedToken(address payment);

    /// The roles a deployment names, checked before anything is sent.
    function checkRoles(uint256 chainId, address deployer, address treasury, address payment, bool mock)
        public
        pure
    {
        if (treasury == address(0)) revert MissingRole("TREASURY");
        if (mock) {
            if (chainId != LOCAL_CHAIN_ID) revert MockTokenOffLocalChain(chainId);
            // Both asked for: the mock would silently replace the token named.
            if (payment != address(0)) revert MockAndNamedToken(payment);
        } else if (payment == address(0)) {
            revert MissingRole("PAYMENT_TOKEN");
        }
        if (chainId != LOCAL_CHAIN_ID) {
            if (isPublicTestAccount(deployer)) revert PublicKeyRole("DEPLOYER_KEY");
            if (isPublicTestAccount(treasury)) revert PublicKeyRole("TREASURY");
        }
    }

    function run() external {
        uint256 key = vm.envUint("DEPLOYER_KEY");
        address deployer = vm.addr(key);
        address treasury = vm.envOr("TREASURY", address(0));
        address payment = vm.envOr("PAYMENT_TOKEN", address(0));
        bool mock = vm.envOr("MOCK_PAYMENT_TOKEN", false);
        checkRoles(block.chainid, deployer, treasury, payment, mock);
        uint256 startBlock = block.number;
        vm.startBroadcast(key);
        if (mock) payment = address(new MockStablecoin());
        GridmintStorage.Config memory c = GridmintStorage.Config({
            paymentToken: IERC20(payment),
            treasury: treasury,
            court: address(0),
            genesis: block.timestamp,
            initialStakeHolder: deployer,
            initialStakeSupply: 1e27,
            minStakePerUnit: 1e16,
            unstakeCooldown: 7 days,
            payoutDelay: 2 days,
            moveWindow: 1 hours,
            feeBps: 250,
            slashBps: 1_000,
            buyerSlashShareBps: 5_000,
            epochLength: 1 days,
            rebateBps: 5_000,
            minStepWindow: 12,
            checkWindow: 1 hours,
            challengeBondBps: 1_000,
            levelsPerMove: 3,
            jurySize: 5,
            jurorShareBps: 5_000,
            jurorSlashBps: 500,
            // The local network: one machine, no jury pool to verify device checks.
            verifiedMatching: false
        });
        c.court = address(new GridmintCourt(c));
        Gridmint market = new Gridmint(c);
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
