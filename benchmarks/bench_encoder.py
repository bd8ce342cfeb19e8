"""Encoder latency: teacher vs student, fp32 vs int8, short and long prompts, 1 and 2 threads.

Run: ``make bench`` (or ``python -m benchmarks.bench_encoder``). Uses the ONNX files
training leaves behind: ``.cache/teacher.fp32.onnx`` (the six-layer teacher;
its int8 copy is made here if missing) and the shipped student
``models/default/encoder.onnx``. Missing files are skipped and said so.
Each figure is the median of 50 single-prompt calls after 5 warm-ups.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import summarise, time_calls, write_results
from learned_router.encoder import Encoder, Truncation
from learned_router.tokens import load_tokenizer

CACHE = Path(os.environ.get("LEARNED_ROUTER_CACHE", ".cache"))
BUNDLE = Path(os.environ.get("LEARNED_ROUTER_BUNDLE", "models/default"))
# A real 500-token prompt shape: few-shot examples, then the question.
WORD = "routing "


def prompt_of(tokens: int) -> str:
    return (WORD * tokens).strip()


def encoders() -> list[tuple[str, Path, Truncation]]:
    found: list[tuple[str, Path, Truncation]] = []
    teacher = CACHE / "teacher.fp32.onnx"
    if teacher.exists():
        teacher_int8 = CACHE / "teacher.int8.onnx"
        if not teacher_int8.exists():
            from training.onnx_export import quantize_int8

            quantize_int8(teacher, teacher_int8)
        full = Truncation(512, 128)
        found += [
            ("teacher 6L fp32, 512-token budget", teacher, full),
            ("teacher 6L int8, 512-token budget", teacher_int8, full),
            ("teacher 6L int8, 128-token budget", teacher_int8, Truncation(128, 32)),
            # What keys the semantic cache (models/cache-encoder): key texts
            # of up to 1,000 characters, about 250 tokens.
            ("teacher 6L int8, 256-token budget (cache key)", teacher_int8, Truncation(256, 254)),
        ]
    manifest = BUNDLE / "manifest.json"
    if manifest.exists():
        import json

        info = json.loads(manifest.read_text())["encoder"]
        truncation = Truncation(info["truncation"]["max_tokens"], info["truncation"]["head_tokens"])
        layers = len(info.get("student_layers", []))
        found.append(
            (
                f"student {layers}L int8 (shipped), {truncation.max_tokens}-token budget",
                BUNDLE / "encoder.onnx",
                truncation,
            )
        )
    for folder in sorted((CACHE / "study").glob("*")) if (CACHE / "study").exists() else []:
        # Folder names carry the budget: "student_2L_64_tokens_(head_16_+_tail)_...".
        budget = re.search(r"_(\d+)_tokens", folder.name)
        head = re.search(r"head_(\d+)", folder.name)
        truncation = Truncation(
            int(budget.group(1)) if budget else 128, int(head.group(1)) if head else 32
        )
        for precision in ("fp32", "int8"):
            path = folder / f"encoder.{precision}.onnx"
            if path.exists():
                found.append((f"study: {folder.name} {precision}", path, truncation))
    return found


def main() -> dict[str, dict[str, float]]:
    console = Console()
    results: dict[str, dict[str, float]] = {}
    tokenizer = load_tokenizer()
    for name, path, truncation in encoders():
        for threads in (1, 2):
            encoder = Encoder(path, tokenizer, truncation, threads=threads)
            for tokens in (30, 500):
                text = [prompt_of(tokens)]
                stats = summarise(
                    time_calls(
                        lambda text=text, encoder=encoder: encoder.embed(text), repeats=50, warmup=5
                    )
                )
                results[f"{name} | {tokens} tokens | {threads} thread(s)"] = {
                    **stats,
                    "mb": path.stat().st_size / 1e6,
                }
    if not results:
        console.print("[yellow]skipped[/]: no encoders found (train first: make train-default)")
        return results
    table = Table(title="Encoder latency, one prompt (tokenise + ONNX)")
    for column in ("encoder", "prompt", "threads", "median ms", "p99 ms", "MB"):
        table.add_column(column)
    for key, stats in results.items():
        name, tokens, threads = key.split(" | ")
        table.add_row(
            name,
            tokens,
            threads.split()[0],
            f"{stats['median_ms']:.2f}",
            f"{stats['p99_ms']:.2f}",
            f"{stats['mb']:.1f}",
        )
    console.print(table)
    console.print(f"written {write_results('encoder', results)}")
    return results


if __name__ == "__main__":
    main()
