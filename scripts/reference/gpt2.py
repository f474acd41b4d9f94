"""A small GPT-2 with seeded random weights, written by transformers, and what transformers
computes with it: the reference the decoder's CPU twin (and every device path) is checked against.

    python3 scripts/reference/gpt2.py OUT_DIR [SEED]

Writes OUT_DIR/model.safetensors and OUT_DIR/config.json (`save_pretrained`, as people download a
model), and prints JSON: the prompts (token ids), each prompt's teacher-forced logits (every row,
flattened, fp32 on the CPU) and its greedy continuation from `model.generate`.
"""

import json
import sys

import torch
from transformers import GPT2Config, GPT2LMHeadModel

PROMPTS = [[5, 17, 42, 99, 3, 150, 7], [1], [200, 199, 198, 0, 0, 12]]
NEW_TOKENS = 12


def main() -> None:
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=211,
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=4,
        layer_norm_epsilon=1e-5,
        # Wider than GPT-2's 0.02, so that the logits spread and greedy choices are clear.
        initializer_range=0.3,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=0,
    )
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        # Layer norms away from (1, 0), so their weights matter.
        for name, p in model.named_parameters():
            if ".ln_" in name or "ln_f" in name:
                p.add_(torch.empty_like(p).uniform_(-0.2, 0.2))
    model.save_pretrained(out, safe_serialization=True)
    logits, greedy = [], []
    with torch.no_grad():
        for prompt in PROMPTS:
            ids = torch.tensor([prompt])
            logits.append(model(ids).logits[0].flatten().tolist())
            # Every prompt token is attended to (0, the pad id, included: no mask inferred from it).
            mask = torch.ones_like(ids)
            gen = model.generate(
                ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False, min_new_tokens=NEW_TOKENS
            )
            greedy.append(gen[0, len(prompt) :].tolist())
    print(json.dumps({"prompts": PROMPTS, "logits": logits, "greedy": greedy, "vocab": config.vocab_size}))


if __name__ == "__main__":
    main()
