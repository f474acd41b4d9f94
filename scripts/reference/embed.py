"""Reference sentence embeddings with sentence-transformers, for the tests and `make bench`.

usage: embed.py MODEL_DIR SENTENCES_TXT OUT_NPY [--batch N] [--time]
Writes float32 [n, dim] (normalized, as the model's modules define) and, with --time, prints
{"sentences_per_s": ...} for the encode call alone.
"""
import json
import sys
import time

import numpy as np
from sentence_transformers import SentenceTransformer


def main() -> None:
    model_dir, sentences_path, out_path = sys.argv[1:4]
    batch = int(sys.argv[sys.argv.index("--batch") + 1]) if "--batch" in sys.argv else 32
    with open(sentences_path, encoding="utf-8") as f:
        sentences = f.read().splitlines()
    model = SentenceTransformer(model_dir, device="cpu")
    start = time.perf_counter()
    embeddings = model.encode(sentences, batch_size=batch, convert_to_numpy=True, normalize_embeddings=True)
    seconds = time.perf_counter() - start
    np.save(out_path, embeddings.astype(np.float32))
    if "--time" in sys.argv:
        print(json.dumps({"sentences_per_s": len(sentences) / seconds, "max_seq_length": model.max_seq_length}))


if __name__ == "__main__":
    main()
