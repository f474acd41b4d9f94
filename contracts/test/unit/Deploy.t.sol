// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "../utils/Test.sol";
import {Deploy} from "../../script/Deploy.s.sol";

/// @notice The deploy script names every role (issue #21, point 6): it once defaulted to anvil's
/// public key as deployer, arbiter and treasury (there is no arbiter any more: issue #22), and to a payment token anyone can mint.
contract DeployTest is Test {
    Deploy internal script = new Deploy();
    address internal constant ANVIL_0 = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
    address internal constant TREASURY = address(0x7EA5);
    address internal constant TOKEN = address(0x05DC);

    function test_attack_aDeploymentWithoutExplicitRolesOrTokenIsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(Deploy.MissingRole.selector, "TREASURY"));
        script.checkRoles(1, address(0xD0), address(0), TOKEN, false);
        vm.expectRevert(abi.encodeWithSelector(Deploy.MissingRole.selector, "PAYMENT_TOKEN"));
        script.checkRoles(1, address(0xD0), TREASURY, address(0), false);
        script.checkRoles(1, address(0xD0), TREASURY, TOKEN, false);
    }

    function test_attack_anvilsPublicKeyHoldsNoRoleOffTheLocalChain() public {
        vm.expectRevert(abi.encodeWithSelector(Deploy.PublicKeyRole.selector, "DEPLOYER_KEY"));
        script.checkRoles(8453, ANVIL_0, TREASURY, TOKEN, false);
        vm.expectRevert(abi.encodeWithSelector(Deploy.PublicKeyRole.selector, "TREASURY"));
        script.checkRoles(8453, address(0xD0), ANVIL_0, TOKEN, false);
        script.checkRoles(31337, ANVIL_0, ANVIL_0, TOKEN, false); // the local chain may
    }

    /// Not only account 0: every account of anvil's public mnemonic has a published key.
    function test_attack_noAccountOfAnvilsPublicMnemonicHoldsARoleOffTheLocalChain() public {
        address ninth = 0xa0Ee7A142d267C1f36714E4a8F75612F20a79720;
        vm.expectRevert(abi.encodeWithSelector(Deploy.PublicKeyRole.selector, "TREASURY"));
        script.checkRoles(8453, address(0xD0), ninth, TOKEN, false);
        vm.expectRevert(abi.encodeWithSelector(Deploy.PublicKeyRole.selector, "DEPLOYER_KEY"));
        script.checkRoles(8453, 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, TREASURY, TOKEN, false);
    }

    /// A named token and the mock both asked for: the mock would have replaced the token silently.
    function test_aMockAndANamedTokenTogetherAreRefused() public {
        vm.expectRevert(abi.encodeWithSelector(Deploy.MockAndNamedToken.selector, TOKEN));
        script.checkRoles(31337, address(0xD0), TREASURY, TOKEN, true);
    }

    function test_attack_aMintableMockTokenOnlyOnTheLocalChain() public {
        vm.expectRevert(abi.encodeWithSelector(Deploy.MockTokenOffLocalChain.selector, uint256(8453)));
        script.checkRoles(8453, address(0xD0), TREASURY, address(0), true);
        script.checkRoles(31337, address(0xD0), TREASURY, address(0), true);
    }

    /// Without DEPLOYER_KEY in the environment the script stops before sending anything.
    function test_run_withoutADeployerKeyReverts() public {
        vm.expectRevert();
        script.run();
    }
}
