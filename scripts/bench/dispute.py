#!/usr/bin/env python3
"""`make bench-dispute`: a real embed job of N sentences (its trace has N steps), then a whole
dispute of the court over that trace on anvil (crates/node/examples/dispute_bench.rs).

usage: dispute.py GRIDMINT_BIN DISPUTE_BENCH_BIN ANVIL OUT_JSON [--sentences N]
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import run_gridmint, sentence_mix  # noqa: E402


def main() -> None:
    binary, bench, anvil, out_json = sys.argv[1:5]
    n = int(sys.argv[sys.argv.index("--sentences") + 1]) if "--sentences" in sys.argv else 4096
    with tempfile.TemporaryDirectory(prefix="gridmint-dispute-") as tmp:
        pkg = os.path.join(tmp, "embed")
        os.makedirs(pkg)
        with open(os.path.join(pkg, "sentences.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(sentence_mix(n)) + "\n")
        with open(os.path.join(pkg, "job.toml"), "w") as f:
            f.write('kind = "embed"\nmodel = "all-MiniLM-L6-v2"\ninput = "sentences.txt"\n')
        job = run_gridmint(binary, pkg, os.path.join(tmp, "out"))
        trace = os.path.join(tmp, "out", "trace.bin")
        subprocess.run([bench, anvil, trace, out_json], check=True, stdout=subprocess.DEVNULL)
    with open(out_json) as f:
        result = json.load(f)
    result["job_seconds"] = job["seconds"]
    result["job_device"] = job["device"]
    # The trace's cost within the same run (target: at most 3%).
    result["job_trace_seconds"] = job["traceSeconds"]
    result["job_trace_share"] = job["traceSeconds"] / job["seconds"]
    with open(out_json, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "transactions"}, indent=2))


if __name__ == "__main__":
    main()
