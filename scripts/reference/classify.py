"""Loads a fine-tuned model folder with transformers and classifies held-out lines, for the tests.

usage: classify.py MODEL_DIR DATA_JSONL
MODEL_DIR is a finetune job's result (model.safetensors, config.json, tokenizer.json), loaded by
AutoModelForSequenceClassification and a fast tokenizer from its tokenizer.json; DATA_JSONL holds
{"text": ..., "label": ...} lines. Prints JSON {"accuracy": ..., "logits": [[...], ...]}.
"""
import json
import sys

import torch
from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast


def main() -> None:
    model_dir, data_path = sys.argv[1:3]
    with open(data_path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{model_dir}/tokenizer.json")
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager")
    model.eval()
    logits = []
    with torch.no_grad():
        for row in rows:
            ids = tokenizer(row["text"], truncation=True, max_length=128)["input_ids"]
            logits.append(model(input_ids=torch.tensor([ids])).logits[0].tolist())
    right = sum(1 for row, l in zip(rows, logits) if max(range(len(l)), key=lambda c: l[c]) == row["label"])
    print(json.dumps({"accuracy": right / len(rows), "logits": logits}))


if __name__ == "__main__":
    main()
