"""Exports scikit-learn's 8x8 digits as train.csv / test.csv (features scaled to [0, 1], label last).

usage: digits_csv.py OUT_DIR
The split is fixed (train_test_split, test_size=0.2, random_state=0, stratified): 1437 / 360 rows.
"""
import os
import sys

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def write(path, x, y) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join([f"p{i}" for i in range(x.shape[1])] + ["label"]) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(f"{v:g}" for v in row) + f",{label}\n")


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    write(os.path.join(out, "train.csv"), x_train, y_train)
    write(os.path.join(out, "test.csv"), x_test, y_test)


if __name__ == "__main__":
    main()
