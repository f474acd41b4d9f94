#!/usr/bin/env python3
"""`make bench-yield`: the GPU yield under the idle detector, written to target/bench/yield.json.

Runs `gridmint bench --yield` twice on an Xvfb display (real input through XTEST): while a real
embedding job runs again and again (a package of 3,000 sentences made here, all-MiniLM-L6-v2 from
the model cache), and while a job of GEMM dispatches of about 60 ms runs. The embedding run is
the headline; `deb_bytes` comes from target/bench/package.json when `make package` has run.

usage: yield.py <gridmint binary> [trials]
"""
import json
import os
import random
import subprocess
import sys
import time

gridmint = sys.argv[1]
trials = sys.argv[2] if len(sys.argv) > 2 else "60"
os.makedirs("target/bench/yield-embed", exist_ok=True)
words = ("gpu compute market provider buyer result verified hash kernel token model sentence "
         "earn idle owner mouse keyboard yield dispatch boundary deadline stake reward").split()
rng = random.Random(7)
with open("target/bench/yield-embed/sentences.txt", "w") as f:
    for _ in range(3000):
        f.write(" ".join(rng.choice(words) for _ in range(rng.randint(5, 40))).capitalize() + ".\n")
with open("target/bench/yield-embed/job.toml", "w") as f:
    f.write('kind = "embed"\nmodel = "all-MiniLM-L6-v2"\ninput = "sentences.txt"\n')

display = f":{300 + os.getpid() % 300}"
xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1)
env = dict(os.environ, DISPLAY=display)
try:
    def run(*extra):
        out = subprocess.run([gridmint, "bench", "--yield", trials, "--json", *extra], env=env,
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)
    embed = run("--job", "target/bench/yield-embed")
    gemm = run("--dispatch-ms", "60")
finally:
    xvfb.terminate()

report = dict(embed)
report["gemm_job"] = gemm
package = "target/bench/package.json"
report["deb_bytes"] = json.load(open(package))["deb_bytes"] if os.path.exists(package) else None
json.dump(report, open("target/bench/yield.json", "w"), indent=2)
for name, r in (("embedding job", embed), ("GEMM job", gemm)):
    print(f"{name}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms over {r['trials']} trials "
          f"({r['input_source']}); dispatches p50 {r['dispatch_ms_p50']:.1f} ms, max {r['dispatch_ms_max']:.1f} ms")
print(f"deb_bytes {report['deb_bytes']}")
