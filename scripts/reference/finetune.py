"""Reference fine-tuning with transformers (PyTorch, fp32, CPU), for the tests and `make bench`.

usage: finetune.py MODEL_DIR SPEC_JSON

SPEC_JSON names the run: {"texts": [...], "labels": [...], "batches": [[sample indices], ...],
"num_labels", "trained_layers", "learning_rate", "weight_decay", "warmup_steps", "max_length",
"classifier_w": [num_labels][hidden], "classifier_b": [num_labels]}. The model is
BertForSequenceClassification over the checkpoint in MODEL_DIR (its pooler included) without
dropout, the classifier set to the given weights; the top `trained_layers` encoder layers, the
pooler and the classifier are trained (every layer: the embeddings too); AdamW (betas 0.9, 0.999,
eps 1e-8) with no weight decay on biases and LayerNorm weights, as transformers' Trainer groups
them; get_linear_schedule_with_warmup over len(batches) steps. Prints JSON
{"ids": token ids of every text, "losses": the loss of each step before its update,
"seconds": the steps' time}.
"""
import json
import sys
import time

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, get_linear_schedule_with_warmup


def main() -> None:
    model_dir, spec_path = sys.argv[1:3]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    torch.manual_seed(0)
    config = BertConfig.from_pretrained(
        model_dir,
        num_labels=spec["num_labels"],
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout=0.0,
    )
    model = BertForSequenceClassification.from_pretrained(model_dir, config=config, attn_implementation="eager")
    with torch.no_grad():
        model.classifier.weight.copy_(torch.tensor(spec["classifier_w"], dtype=torch.float32))
        model.classifier.bias.copy_(torch.tensor(spec["classifier_b"], dtype=torch.float32))
    model.train()

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = [tokenizer(t, truncation=True, max_length=spec["max_length"])["input_ids"] for t in spec["texts"]]

    layers = config.num_hidden_layers
    trained = spec["trained_layers"]
    for p in model.parameters():
        p.requires_grad_(False)
    modules = [model.bert.pooler, model.classifier] + list(model.bert.encoder.layer[layers - trained :])
    if trained == layers:
        modules.append(model.bert.embeddings)
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(True)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = [p for n, p in named if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in named if not (n.endswith("bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=spec["learning_rate"],
        betas=(0.9, 0.999),
        eps=1e-8,
    )
    schedule = get_linear_schedule_with_warmup(optimizer, spec["warmup_steps"], len(spec["batches"]))

    losses = []
    start = time.perf_counter()
    for batch in spec["batches"]:
        rows = [ids[i] for i in batch]
        seq = max(len(r) for r in rows)
        input_ids = torch.tensor([r + [0] * (seq - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (seq - len(r)) for r in rows])
        labels = torch.tensor([spec["labels"][i] for i in batch])
        out = model(
            input_ids=input_ids,
            attention_mask=mask,
            token_type_ids=torch.zeros_like(input_ids),
            labels=labels,
        )
        losses.append(out.loss.item())
        out.loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    print(json.dumps({"ids": ids, "losses": losses, "seconds": seconds}))


if __name__ == "__main__":
    main()
