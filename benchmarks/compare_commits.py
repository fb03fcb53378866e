"""Run a benchmark on an older commit and on the working tree, interleaved, and compare.

A refactor should not change speed. This runs ``benchmarks/training.py`` or
``benchmarks/wavenet_generation.py`` alternately from a worktree of ``--old`` and from this
checkout (each with its own ``src`` first on ``PYTHONPATH``, the same interpreter and
packages), ``--rounds`` times, and prints the median time of every configuration under
both with their ratio (new / old: below 1 is faster). Rounds are interleaved so that a
machine getting busier or quieter during the run affects both sides alike.

    git worktree add /tmp/wt-old 2237365
    python benchmarks/compare_commits.py training --old /tmp/wt-old -- --quick --families nsynth translation vqvae
    python benchmarks/compare_commits.py wavenet_generation --old /tmp/wt-old -- --quick --no-harmonic --no-chunked

Writes JSON to benchmarks/results/compare_<benchmark>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def _keys(benchmark: str, data: dict) -> dict[str, float]:
    """Configuration -> time (lower is better) from one run's JSON."""
    if benchmark == "training":
        return {
            f"{r['family']} {r['threads']}thr {r['path']}": float(r["median_ms"])
            for r in data["rows"]
        }
    return {
        f"{r['decoder']} {r['backend']} b{r['batch']} {r['threads']}thr": float(r["us_per_sample"])
        for r in data["results"]
        if r["backend"] != "naive"
    }


def _run(tree: Path, benchmark: str, extra: list[str], out: Path) -> dict[str, float]:
    flag = "--out" if benchmark == "training" else "--json"
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    cmd = [sys.executable, str(tree / "benchmarks" / f"{benchmark}.py"), *extra, flag, str(out)]
    subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    return _keys(benchmark, json.loads(out.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=("training", "wavenet_generation"))
    parser.add_argument("--old", type=Path, required=True, help="a worktree of the older commit")
    parser.add_argument("--rounds", type=int, default=2)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.extra = argv[split + 1 :]  # the benchmark's own options, after --
    times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            for side, tree in (("old", args.old.resolve()), ("new", HERE)):
                out = Path(tmp) / f"{side}-{round_no}.json"
                for key, value in _run(tree, args.benchmark, args.extra, out).items():
                    times[side].setdefault(key, []).append(value)
                print(f"round {round_no + 1}: {side} done", flush=True)
    unit = "ms/step" if args.benchmark == "training" else "us/sample"
    rows = []
    print(f"{'configuration':<44}{'old ' + unit:>14}{'new ' + unit:>14}{'new/old':>9}")
    for key in sorted(set(times["old"]) & set(times["new"])):
        old, new = statistics.median(times["old"][key]), statistics.median(times["new"][key])
        rows.append({"configuration": key, "old": old, "new": new, "ratio": new / old})
        print(f"{key:<44}{old:>14.1f}{new:>14.1f}{new / old:>9.2f}")
    result = {
        "benchmark": args.benchmark,
        "old": str(args.old),
        "options": args.extra,
        "rounds": args.rounds,
        "unit": unit,
        "rows": rows,
    }
    path = HERE / "benchmarks" / "results" / f"compare_{args.benchmark}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
