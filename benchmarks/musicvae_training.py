"""MusicVAE training throughput on CPU: float32 against bf16 autocast (``--precision bf16-mixed``).

    python benchmarks/musicvae_training.py                  # cat-mel_2bar_small, batch 64
    python benchmarks/musicvae_training.py --threads 2 --repeats 10

One training step = loss (encoder, decoder, KL), backward, Adam update, on a fixed batch of
random melody tokens (speed does not depend on the data). Two decoder regimes: teacher
forcing (the start of magenta's schedule) and scheduled sampling at p = 0.5 (the decoder
steps one token at a time; the schedule reaches it near step 7,000). The two precisions run
interleaved in one process so both see the same machine load, from identical weights; the
run also reports how far the bf16 loss is from the float32 loss on the same batch. Then the
same measurements again after ``keep_freed_memory()`` (glibc keeps freed pages instead of
returning them to the kernel every step; ``latentmusic train`` does this). The speed-up
column is against float32 with the default allocator.
Prints a table and writes ``benchmarks/results/musicvae_training.json``.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from latentmusic.fileio import write_json
from latentmusic.musicvae.config import PRESETS
from latentmusic.musicvae.model import MusicVAE
from latentmusic.train.allocator import keep_freed_memory

RESULTS = Path(__file__).parent / "results" / "musicvae_training.json"
PRECISIONS = ("32-true", "bf16-mixed")


def _context(precision: str):  # noqa: ANN202
    if precision == "bf16-mixed":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


def _step(
    model: MusicVAE, opt: torch.optim.Optimizer, tokens: torch.Tensor, p: float, precision: str
) -> float:
    """One optimisation step; returns its wall time in seconds."""
    started = time.perf_counter()
    with _context(precision):
        out = model.loss({"tokens": tokens}, step=0, sampling=p)
    opt.zero_grad(set_to_none=True)
    out["loss"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return time.perf_counter() - started


def bench(preset: str, batch: int, repeats: int) -> list[dict[str, object]]:
    """Both precisions and both regimes with glibc's default allocator settings, then
    again after ``keep_freed_memory()`` (what ``latentmusic train`` does)."""
    torch.manual_seed(0)
    base = MusicVAE(PRESETS[preset])
    depth = base.representation.depths[0]
    tokens = torch.randint(0, depth, (batch, base.steps, 1))
    rows = _phase(base, tokens, repeats, "default", None)
    kept = keep_freed_memory()
    baseline = {
        r["sampling_probability"]: r["median_step_s"] for r in rows if r["precision"] == "32-true"
    }
    rows += _phase(base, tokens, repeats, "kept" if kept else "default (not glibc)", baseline)
    return rows


def _phase(
    base: MusicVAE,
    tokens: torch.Tensor,
    repeats: int,
    allocator: str,
    baseline: dict[float, float] | None,
) -> list[dict[str, object]]:
    batch = len(tokens)
    rows = []
    for p in (0.0, 0.5):
        models = {name: copy.deepcopy(base) for name in PRECISIONS}
        opts = {name: torch.optim.Adam(m.parameters(), 1e-3) for name, m in models.items()}
        times: dict[str, list[float]] = {name: [] for name in PRECISIONS}
        for i in range(repeats + 2):
            order = PRECISIONS if i % 2 == 0 else PRECISIONS[::-1]
            for name in order:
                seconds = _step(models[name], opts[name], tokens, p, name)
                if i >= 2:  # warm-up
                    times[name].append(seconds)
        with torch.no_grad():  # same weights, same batch, teacher forcing, same noise
            fresh = copy.deepcopy(base)
            torch.manual_seed(1)
            reference = float(fresh.loss({"tokens": tokens}, sampling=0.0)["recon"])
            torch.manual_seed(1)
            with _context("bf16-mixed"):
                mixed = float(fresh.loss({"tokens": tokens}, sampling=0.0)["recon"])
        fp32 = baseline[p] if baseline else statistics.median(times["32-true"])
        for name in PRECISIONS:
            median = statistics.median(times[name])
            rows.append(
                {
                    "allocator": allocator,
                    "sampling_probability": p,
                    "precision": name,
                    "median_step_s": round(median, 4),
                    "min_step_s": round(min(times[name]), 4),
                    "examples_per_s": round(batch / median, 1),
                    "speedup_vs_fp32_default": round(fp32 / median, 2),
                    "recon_relative_difference": 0.0
                    if name == "32-true"
                    else float(f"{abs(mixed - reference) / abs(reference):.2e}"),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cat-mel_2bar_small")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = bench(args.preset, args.batch, args.repeats)
    print(f"{args.preset}, batch {args.batch}, {torch.get_num_threads()} threads")
    print(
        f"{'allocator':>9} {'p(sample)':>9} {'precision':>11} {'step s':>8} {'ex/s':>8} "
        f"{'speedup':>8} {'Δrecon':>8}"
    )
    for r in rows:
        print(
            f"{r['allocator']:>9} {r['sampling_probability']:>9} {r['precision']:>11} "
            f"{r['median_step_s']:>8} {r['examples_per_s']:>8} {r['speedup_vs_fp32_default']:>8} "
            f"{r['recon_relative_difference']:>8.1e}"
        )
    write_json(
        args.out,
        {
            "benchmark": "musicvae_training",
            "preset": args.preset,
            "batch": args.batch,
            "repeats": args.repeats,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "load_average": os.getloadavg(),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
