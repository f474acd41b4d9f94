"""Splits a model folder's model.safetensors into two shards with model.safetensors.index.json,
as large checkpoints are published (transformers' layout), and removes the single file.

    python3 scripts/reference/shard_safetensors.py MODEL_DIR
"""

import json
import os
import sys

from safetensors.torch import load_file, save_file


def main() -> None:
    folder = sys.argv[1]
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    names = sorted(tensors)
    half = len(names) // 2
    parts = {
        "model-00001-of-00002.safetensors": names[:half],
        "model-00002-of-00002.safetensors": names[half:],
    }
    weight_map = {}
    for file, part in parts.items():
        save_file({n: tensors[n] for n in part}, os.path.join(folder, file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    os.remove(os.path.join(folder, "model.safetensors"))


if __name__ == "__main__":
    main()
