"""Writes a sentence-transformers model folder with weights made from a seed, in the shapes of a
real one: the benchmark machine gets the model's speed without its weights travelling.

usage: seeded_model.py SOURCE_DIR OUT_DIR [--seed S]

SOURCE_DIR holds the real model's small files (config.json, tokenizer.json, modules.json, ...);
everything but the weights is copied, and model.safetensors is a BertModel initialised from the
seed (normal(0, 0.02) matrices, unit LayerNorms), which both gridmint and sentence-transformers load.
"""
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel


def main() -> None:
    source, out = sys.argv[1:3]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.onnx"), dirs_exist_ok=True)
    torch.manual_seed(seed)
    model = BertModel(BertConfig.from_json_file(os.path.join(source, "config.json")), add_pooling_layer=False)
    tensors = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    print(f"seeded model ({seed}) with {len(tensors)} tensors written to {out}")


if __name__ == "__main__":
    main()
