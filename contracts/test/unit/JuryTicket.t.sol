// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "../utils/Test.sol";
import {JuryTicket} from "../../src/libraries/JuryTicket.sol";

/// @notice The jury's draw (`JuryTicket`): a race of exponential tickets is a draw weighted by
/// stake, and splitting a stake over many addresses does not help. Counted over 2,000 seeds
/// (fixed: the counts are the same on every run); the bounds are four standard deviations.
contract JuryTicketTest is Test {
    uint256 internal constant RUNS = 2_000;

    function test_log2_isExactOnPowersAndCloseBetween() public pure {
        assertEq(JuryTicket.log2(1), 0, "log2 1");
        assertEq(JuryTicket.log2(2), 1 << 32, "log2 2");
        assertEq(JuryTicket.log2(1 << 200), uint256(200) << 32, "log2 2^200");
        assertEq(JuryTicket.log2(type(uint256).max), (uint256(256) << 32) - 1, "log2 max");
        // log2(3) = 1.584962500721156...
        uint256 l3 = JuryTicket.log2(3);
        assertLe(l3, 6_807_362_105, "log2 3, rounded down");
        assertGe(l3, 6_807_362_103, "log2 3, to 32 bits");
    }

    /// A member with three times the stake wins three races in four.
    function test_theDraw_isWeightedByStake() public pure {
        uint256 wins;
        for (uint256 i; i < RUNS; ++i) {
            uint256 seed = uint256(keccak256(abi.encode("seed", i)));
            if (JuryTicket.draw(seed, 0, address(0xA), 3e21) < JuryTicket.draw(seed, 0, address(0xB), 1e21)) ++wins;
        }
        // 1 500 expected, σ = 19.4
        assertGe(wins, 1_500 - 78, "three races in four");
        assertLe(wins, 1_500 + 78, "three races in four");
    }

    /// The same stake split over three addresses wins a seat in half the races against one
    /// address holding it whole: no more, no less (and so every seat, each a race of its own:
    /// `test_attack_aSplitStakeWinsNoMoreSeatsThanWhole`).
    function test_splittingAStake_changesNothing() public pure {
        uint256 wins;
        for (uint256 i; i < RUNS; ++i) {
            uint256 seed = uint256(keccak256(abi.encode("split", i)));
            uint64 whole = JuryTicket.draw(seed, 0, address(0xA), 3e21);
            bool splitWins;
            for (uint160 k; k < 3; ++k) {
                splitWins = splitWins || JuryTicket.draw(seed, 0, address(0xB0 + k), 1e21) < whole;
            }
            if (splitWins) ++wins;
        }
        // 1 000 expected, σ = 22.4
        assertGe(wins, 1_000 - 90, "half the races");
        assertLe(wins, 1_000 + 90, "half the races");
    }

    /// The review's split stake: one seat per address let a stake split over many addresses win
    /// more seats than whole. Every seat is a race of its own now: over 400 draws of five seats,
    /// a stake of 3 split over three addresses wins as many seats as the same stake whole, against
    /// it (within 3.5 standard deviations of the even share).
    function test_attack_aSplitStakeWinsNoMoreSeatsThanWhole() public pure {
        uint256 splitSeats;
        uint256 draws = 400;
        uint256 seatsPerDraw = 5;
        for (uint256 d; d < draws; ++d) {
            uint256 seed = uint256(keccak256(abi.encode("split draw", d)));
            for (uint256 s; s < seatsPerDraw; ++s) {
                uint64 whole = JuryTicket.draw(seed, s, address(0xA), 3e21);
                bool splitWins;
                for (uint256 k; k < 3; ++k) {
                    splitWins = splitWins || JuryTicket.draw(seed, s, address(uint160(0xB0 + k)), 1e21) < whole;
                }
                if (splitWins) ++splitSeats;
            }
        }
        // 2,000 races with p = 1/2: mean 1,000, standard deviation ~22.4.
        assertGt(splitSeats, 1_000 - 79, "the split stake wins about half the seats");
        assertLt(splitSeats, 1_000 + 79, "and no more");
    }
}
