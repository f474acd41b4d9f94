#!/usr/bin/env python3
"""Assembles target/bench/market.json from the market's measurements (issue #23).

selection.json: written by the forge test test_selectionShare_followsTheWeightShare_over10000Draws
(the contract's ReplicaDraw over 10,000 draws).
challenge.json: written by crates/node/examples/challenge_bench.rs (a device challenge answered on
this machine's device, and 1,000 simulated lying provers against the same checker).
"""
import json
import platform
import sys


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: market.py SELECTION_JSON CHALLENGE_JSON OUT_JSON", file=sys.stderr)
        return 2
    selection_path, challenge_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    loaded = []
    for path, writer in ((selection_path, "the forge test"), (challenge_path, "challenge_bench")):
        try:
            with open(path) as f:
                loaded.append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"market.py: {path}: {e} ({writer} did not write it)", file=sys.stderr)
            return 1
    selection, challenge = loaded
    error_points = selection["selection_share_error_bps"] / 100
    out = {
        "machine": platform.node(),
        "selection_draws": selection["draws"],
        "selection_claimants": selection["claimants"],
        # Largest gap, over the claimants, between the share of draws a claimant won and its
        # share of the claim weight, in percentage points (target <= 2).
        "selection_share_error": error_points,
        "selection_share_error_target": 2.0,
        # Seconds this machine's device took to answer a device challenge for the declared memory
        # (the fill and the walk, every matrix hashed), and to check its sampled rows.
        "challenge_s": challenge["challenge_s"],
        "challenge_device": challenge["device"],
        "challenge_declared_mib": challenge["declared_mib"],
        "challenge_check_s": challenge["check_s"],
        # Simulated liars (overstating memory, compute or both at least twofold) that passed.
        "false_accept": challenge["false_accept"],
        "false_accept_of": challenge["liars"],
        "false_accept_target": 0,
        "challenge": challenge,
    }
    with open(out_path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(json.dumps(out, indent=2))
    return 0 if error_points <= 2.0 and challenge["false_accept"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
