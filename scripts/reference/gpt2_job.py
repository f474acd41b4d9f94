"""A generate job package with a small GPT-2 of seeded random weights and a byte-level BPE
tokenizer, both written by transformers and tokenizers as people download them, and what
transformers generates for its prompts: the reference `kind = "generate"` is checked against.

    python3 scripts/reference/gpt2_job.py PACKAGE_DIR [SEED]

Writes PACKAGE_DIR/job.toml, PACKAGE_DIR/prompts.jsonl and the model folder
PACKAGE_DIR/tiny-gpt2/ (config.json, model.safetensors, tokenizer.json), and prints JSON: for each
prompt, its token ids as `tokenizer(prompt)` gives them, the new tokens of greedy
`model.generate` and their text (`decode(..., skip_special_tokens=True)`).
"""

import json
import os
import sys

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

CORPUS = [
    "Verifiable compute means every provider who runs the same job gets the same bits.",
    "A cheater is caught when redundant results are compared by hash.",
    "The quick brown fox jumps over the lazy dog, then the dog sleeps in the sun.",
    "Providers earn by running tasks; buyers get verified results back.",
] * 20

PROMPTS = [
    {"prompt": "The quick brown fox", "max_new_tokens": 12},
    {"prompt": "Verifiable", "max_new_tokens": 20},
    {"prompt": "A cheater is caught when redundant results are compared", "max_new_tokens": 5},
    {"prompt_ids": [5, 17, 42, 99, 3, 150, 7], "max_new_tokens": 9},
    {"prompt": "buyers get", "max_new_tokens": 1},
]


def main() -> None:
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    model_dir = os.path.join(out, "tiny-gpt2")
    os.makedirs(model_dir, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=320, min_frequency=2, special_tokens=["<|endoftext|>"])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")
    tokenizer.save_pretrained(model_dir)
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=4,
        layer_norm_epsilon=1e-5,
        initializer_range=0.3,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or "ln_f" in name:
                p.add_(torch.empty_like(p).uniform_(-0.2, 0.2))
    model.save_pretrained(model_dir, safe_serialization=True)
    with open(os.path.join(out, "job.toml"), "w") as f:
        f.write('kind = "generate"\nmodel = "tiny-gpt2"\ninput = "prompts.jsonl"\n')
    with open(os.path.join(out, "prompts.jsonl"), "w") as f:
        for p in PROMPTS:
            f.write(json.dumps(p) + "\n")
    results = []
    with torch.no_grad():
        for p in PROMPTS:
            ids = p["prompt_ids"] if "prompt_ids" in p else tokenizer(p["prompt"])["input_ids"]
            ids_t = torch.tensor([ids])
            gen = model.generate(
                ids_t,
                attention_mask=torch.ones_like(ids_t),
                max_new_tokens=p["max_new_tokens"],
                do_sample=False,
                pad_token_id=tokenizer.eos_token_id,
            )
            new = gen[0, len(ids) :].tolist()
            results.append(
                {"prompt_ids": ids, "token_ids": new, "text": tokenizer.decode(new, skip_special_tokens=True)}
            )
    print(json.dumps({"completions": results, "eos": tokenizer.eos_token_id, "vocab": config.vocab_size}))


if __name__ == "__main__":
    main()
