#!/usr/bin/env python3
"""The overhead of segmenting a fine-tuning job (issue #25): target/bench/chain.json.

One package (all-MiniLM-L6-v2, the examples/finetune lines) runs twice on this machine: once
locally in one process (`gridmint run`: the uninterrupted job's compute), and once as a chain of
market jobs of one segment each (`gridmint job submit --chain`) on the embedded local network
(anvil, a block a second) with one provider process. What the chain takes beyond the local run is
the segmenting's overhead: posting, the claim window, each link's provider loading the model and
the state it resumes from, committing, revealing, delivering and settling. Reported per link, and
as a share of a 30-minute job cut into segments as long as these and into 5-minute segments.
The buyer's spot check is off here (`--spot-check 0`): it re-runs each link on the buyer's own
device, a cost that grows with the segment, not a fixed overhead (and on one machine it would
compete with the provider for the same cores). A segment's compute is the local run's time over
its segments, its model load and output writing included.

usage: chain.py GRIDMINT ANVIL MODELS OUT_JSON [--links N] [--segment-steps S]
"""
import argparse
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]


def wait_for(what, timeout, ready):
    until = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > until:
            raise SystemExit(f"chain.py: timed out waiting for {what}")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("gridmint")
    parser.add_argument("anvil")
    parser.add_argument("models")
    parser.add_argument("out")
    parser.add_argument("--links", type=int, default=4)
    parser.add_argument("--segment-steps", type=int, default=5)
    args = parser.parse_args()
    if not pathlib.Path(args.models, "all-MiniLM-L6-v2", "model.safetensors").is_file():
        print(f"chain.py: no all-MiniLM-L6-v2 under {args.models} (make setup)", file=sys.stderr)
        return 1

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="gridmint-chain-bench-"))
    children = []

    def gridmint(home, *argv):
        return [args.gridmint, "--home", str(tmp / home), "--models", args.models, *argv]

    try:
        pkg = tmp / "job"
        pkg.mkdir()
        shutil.copy(REPO / "examples/finetune/train.jsonl", pkg / "train.jsonl")
        samples = sum(1 for _ in open(pkg / "train.jsonl"))
        batch = 8
        steps = args.links * args.segment_steps
        epochs = -(-steps // -(-samples // batch))
        (pkg / "job.toml").write_text(
            'kind = "finetune"\nmodel = "all-MiniLM-L6-v2"\ndata = "train.jsonl"\n[finetune]\n'
            f"epochs = {epochs}\nlearning_rate = 1e-4\nbatch_size = {batch}\nlayers = 2\n"
            f"segment_steps = {args.segment_steps}\nseed = 3\n"
        )
        links = -(-(epochs * -(-samples // batch)) // args.segment_steps)

        gpus = subprocess.run([args.gridmint, "gpus", "--json"], capture_output=True, text=True, check=True)
        devices = json.loads(gpus.stdout)["devices"]
        device = devices[0]["name"] if devices else "none"

        # The uninterrupted job, in one local process.
        started = time.monotonic()
        subprocess.run(gridmint("b", "run", str(pkg), "--out", str(tmp / "local")), check=True,
                       stdout=subprocess.DEVNULL)
        local_s = time.monotonic() - started

        devnet = subprocess.Popen(gridmint("chain", "devnet", "--block-time", "1", "--anvil", args.anvil),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(devnet)
        profile = tmp / "chain/config/networks/local.json"
        wait_for("the devnet", 120, profile.is_file)
        time.sleep(0.5)
        provider_log = open(tmp / "provider.log", "w")
        provider = subprocess.Popen(
            gridmint("p", "provider", "start", "--network", str(profile), "--dev-account", "1"),
            stdout=subprocess.DEVNULL, stderr=provider_log)
        children.append(provider)
        wait_for("the provider", 120, (tmp / "p/data/node.sqlite3").is_file)
        time.sleep(3)

        started = time.monotonic()
        chain = subprocess.Popen(
            gridmint("b", "--json", "job", "submit", str(pkg), "--network", str(profile), "--dev-account", "4",
                     "--replicas", "1", "--spot-check", "0", "--chain", "--out", str(tmp / "chained")),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events = []
        for line in chain.stderr:
            events.append((time.monotonic() - started, line.rstrip()))
        stdout = chain.stdout.read()
        chain.wait()
        provider_log.close()
        chain_s = time.monotonic() - started
        if chain.returncode != 0:
            print("\n".join(l for _, l in events), file=sys.stderr)
            return 1
        summary = json.loads(stdout)
        same = all((tmp / "chained" / f).read_bytes() == (tmp / "local" / f).read_bytes()
                   for f in ("model.safetensors", "optimizer.safetensors"))

        posted = {}
        per_link = []
        for at, line in events:
            m = re.match(r"link (\d+)/\d+: posted job", line)
            if m:
                posted.setdefault(int(m.group(1)), at)
            m = re.match(r"link (\d+)/\d+: job \d+ verified", line)
            if m:
                k = int(m.group(1))
                per_link.append({"link": k, "posted_to_verified_s": round(at - posted[k], 1)})

        segment_s = local_s / links
        overhead_s = (chain_s - local_s) / links
        share = lambda seg: overhead_s / (seg + overhead_s)
        out = {
            "machine": platform.node(),
            "device": device,
            "links": links,
            "segment_steps": args.segment_steps,
            "local_run_s": round(local_s, 1),
            "chain_s": round(chain_s, 1),
            "segment_compute_s": round(segment_s, 1),
            "overhead_per_link_s": round(overhead_s, 1),
            # A 30-minute job cut into segments of this length, and into 5-minute segments: the
            # share of its wall time that is segmenting (settlement and hand-over).
            "overhead_share_30min_at_this_segment_length": round(share(segment_s), 3),
            "overhead_share_30min_at_5min_segments": round(share(300.0), 3),
            "same_bits_as_the_local_run": same,
            "per_link": per_link,
            "job_ids": summary["jobIds"],
        }
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        print(json.dumps(out, indent=2))
        return 0 if same and summary["verified"] else 1
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
