// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title GridToken
/// @notice Gridmint's protocol token: providers stake it. Its supply is fixed when the market
/// deploys it: nothing mints it afterwards (rewards are paid out of fees, in the payment token, so
/// no trade a provider makes with itself can mint value; see contracts/README.md).
contract GridToken is ERC20 {
    /// @param initialHolder receives `initialSupply` (stake for the first providers).
    constructor(address initialHolder, uint256 initialSupply) ERC20("Gridmint", "GRID") {
        _mint(initialHolder, initialSupply);
    }
}
