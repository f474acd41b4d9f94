"""transformers' GPT-2 on the CPU (fp32), the reference for `gridmint bench --generate`.

    python3 scripts/bench/generate_reference.py PROMPT_TOKENS DECODE_STEPS BATCH [BATCH ...]

A GPT-2-small-shaped model (124M parameters, random weights: speed does not depend on them);
per batch size, prompts of PROMPT_TOKENS tokens in one forward pass (the prefill), then
DECODE_STEPS forward passes of one token each over the key-value cache, greedy. Prints JSON:
{"name", "threads", "rates": [{"batch", "prefillTokensPerS", "decodeTokensPerS"}]}.
"""

import json
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def main() -> None:
    prompt, steps = int(sys.argv[1]), int(sys.argv[2])
    batches = [int(b) for b in sys.argv[3:]]
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()  # GPT-2 small's shapes
    rates = []
    with torch.inference_mode():
        for batch in batches:
            ids = torch.randint(0, model.config.vocab_size, (batch, prompt))
            model(ids[:, :4], use_cache=True)  # warm-up
            started = time.perf_counter()
            out = model(ids, use_cache=True)
            prefill = time.perf_counter() - started
            past = out.past_key_values
            nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
            started = time.perf_counter()
            for _ in range(steps):
                out = model(nxt, past_key_values=past, use_cache=True)
                past = out.past_key_values
                nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
            decode = time.perf_counter() - started
            rates.append(
                {
                    "batch": batch,
                    "prefillTokensPerS": batch * prompt / prefill,
                    "decodeTokensPerS": batch * steps / decode,
                }
            )
    name = f"transformers {__import__('transformers').__version__} GPT2LMHeadModel, torch {torch.__version__} CPU fp32"
    print(json.dumps({"name": name, "threads": torch.get_num_threads(), "rates": rates}))


if __name__ == "__main__":
    main()
