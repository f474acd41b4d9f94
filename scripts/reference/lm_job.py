"""A generate job package with a small decoder of seeded random weights (GPT-2, Llama or
Qwen2) and a byte-level BPE tokenizer, written by transformers and tokenizers as people download
them, and what transformers computes for its prompts: the reference `kind = "generate"` and the
engine's decoders are checked against.

    python3 scripts/reference/lm_job.py PACKAGE_DIR [FAMILY] [SEED]

FAMILY is gpt2 (the default), llama (grouped-query attention, untied head) or qwen2 (q/k/v biases,
tied head, rope_theta 1e6). Writes PACKAGE_DIR/job.toml, PACKAGE_DIR/prompts.jsonl and the model
folder PACKAGE_DIR/tiny-FAMILY/ (config.json, model.safetensors, tokenizer.json), and prints JSON:
for each prompt, its token ids as `tokenizer(prompt)` gives them, its teacher-forced logits (every
row, flattened, fp32 on the CPU), the new tokens of greedy `model.generate` and their text
(`decode(..., skip_special_tokens=True)`).
"""

import json
import os
import sys

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPT2TokenizerFast,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

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


def model_for(family: str, vocab: int, eos: int):
    special = dict(bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    if family == "gpt2":
        config = GPT2Config(
            vocab_size=vocab,
            n_positions=64,
            n_embd=64,
            n_layer=2,
            n_head=4,
            layer_norm_epsilon=1e-5,
            initializer_range=0.3,
            **special,
        )
        return GPT2LMHeadModel(config)
    shapes = dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-6,
        initializer_range=0.3,
        **special,
    )
    if family == "llama":
        return LlamaForCausalLM(LlamaConfig(tie_word_embeddings=False, **shapes))
    if family == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(tie_word_embeddings=True, rope_theta=1e6, **shapes))
    raise SystemExit(f"unknown family {family}")


def main() -> None:
    out = sys.argv[1]
    family = sys.argv[2] if len(sys.argv) > 2 else "gpt2"
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    name = f"tiny-{family}"
    model_dir = os.path.join(out, name)
    os.makedirs(model_dir, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=320, min_frequency=2, special_tokens=["<|endoftext|>"])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")
    tokenizer.save_pretrained(model_dir)
    torch.manual_seed(seed)
    model = model_for(family, len(tokenizer), tokenizer.eos_token_id).eval()
    with torch.no_grad():
        for param_name, p in model.named_parameters():
            if "ln_" in param_name or "norm" in param_name:
                p.add_(torch.empty_like(p).uniform_(-0.2, 0.2))
    model.save_pretrained(model_dir, safe_serialization=True)
    with open(os.path.join(out, "job.toml"), "w") as f:
        f.write(f'kind = "generate"\nmodel = "{name}"\ninput = "prompts.jsonl"\n')
    with open(os.path.join(out, "prompts.jsonl"), "w") as f:
        for p in PROMPTS:
            f.write(json.dumps(p) + "\n")
    results = []
    with torch.no_grad():
        for p in PROMPTS:
            ids = p["prompt_ids"] if "prompt_ids" in p else tokenizer(p["prompt"])["input_ids"]
            ids_t = torch.tensor([ids])
            logits = model(ids_t).logits[0].flatten().tolist()
            gen = model.generate(
                ids_t,
                attention_mask=torch.ones_like(ids_t),
                max_new_tokens=p["max_new_tokens"],
                do_sample=False,
                pad_token_id=tokenizer.eos_token_id,
            )
            new = gen[0, len(ids) :].tolist()
            results.append(
                {
                    "prompt_ids": ids,
                    "logits": logits,
                    "token_ids": new,
                    "text": tokenizer.decode(new, skip_special_tokens=True),
                }
            )
    print(json.dumps({"completions": results, "eos": tokenizer.eos_token_id, "vocab": len(tokenizer)}))


if __name__ == "__main__":
    main()
