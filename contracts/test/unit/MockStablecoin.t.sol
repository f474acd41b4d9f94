// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "../utils/Test.sol";
import {MockStablecoin} from "../../src/tokens/MockStablecoin.sol";

contract MockStablecoinTest is Test {
    MockStablecoin internal usd;

    function setUp() public {
        usd = new MockStablecoin();
    }

    function test_hasSixDecimals() public view {
        assertEq(usd.decimals(), 6, "gUSD mirrors USDC's 6 decimals");
    }

    function testFuzz_mintCreditsTheRecipient(address to, uint96 amount) public {
        vm.assume(to != address(0));
        usd.mint(to, amount);
        assertEq(usd.balanceOf(to), amount, "minted amount lands");
        assertEq(usd.totalSupply(), amount, "supply grows by the minted amount");
    }
}
