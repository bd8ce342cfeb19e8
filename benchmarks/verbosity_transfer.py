"""Does a model's verbosity carry from one dataset to another? Each model's mean
logged answer length (characters) relative to its dataset's median model, for
every dataset that logs answer lengths, over the models of one dataset.

Models are matched across datasets by the shipped catalog's canonical id.

Run: ``python -m benchmarks.verbosity_transfer --data ../shared/data``
(default: LLMRouter NQ's models; ``--dataset NAME`` for another set's; seconds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from learned_router.catalog import Catalog

SHIPPED_CATALOG = Path(__file__).resolve().parents[1] / "models" / "default" / "catalog.toml"


def relative_lengths(data: Path, dataset: str) -> dict[str, dict[str, float]]:
    """``{canonical model: {dataset: mean length / the dataset's median model's}}``."""
    import pandas as pd
    import pyarrow.parquet as pq

    catalog = Catalog.load(SHIPPED_CATALOG)

    def canonical(model: str) -> str:
        return catalog.resolve(model) if catalog.knows(model) else model

    table: dict[str, dict[str, float]] = {}
    for path in sorted((data / "outcomes").glob("*.parquet")):
        if "out_chars" not in pq.read_schema(path).names:  # the schema only, not the rows
            continue
        rows = pd.read_parquet(path, columns=["model", "out_chars"])
        means = rows[rows.out_chars > 0].groupby("model").out_chars.mean()
        if means.empty:
            continue
        median = float(means.median())
        for model, value in means.items():
            table.setdefault(canonical(str(model)), {})[path.stem] = float(value) / median
    wanted = {
        canonical(str(m))
        for m in pd.read_parquet(data / "outcomes" / f"{dataset}.parquet", columns=["model"])[
            "model"
        ].unique()
    }
    return {m: table[m] for m in sorted(wanted) if m in table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--dataset", default="llmrouter_nq")
    args = parser.parse_args()
    table = relative_lengths(args.data, args.dataset)
    sets = sorted({d for row in table.values() for d in row})
    print("| model | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for model, row in table.items():
        cells = (f"{row[d]:.2f}" if d in row else "" for d in sets)
        print(f"| {model} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
