"""How fast `latentmusic translate` turns a real recording into another instrument, and in
how much memory.

    python benchmarks/translate.py                 # shipped models (random weights where absent)
    python benchmarks/translate.py --quick         # shorter files

For each translator -- our pitch-grid model (``translation-notegrid``) and the paper's WaveNet
decoders (``translation-small``); the ``notegrid`` / ``small`` presets with random weights
where a model is not shipped: synthesis costs the same whatever the weights, except that the
note bank only synthesizes the voices that sound -- it writes a stereo 44.1 kHz OGG of a
rendered chorale (the domains set's test piece looped, or a chord melody when no data is
at hand), then times ``translate_file`` into one target domain and into all of them, in
this process, 1 and 2 threads. Reports seconds of audio translated per second of CPU
(process time: robust on a shared machine) and of wall clock, per target domain, and the
peak resident memory of a child process translating files of two lengths: bounded memory
means the longer file does not need more.

Prints a table and writes JSON (default benchmarks/results/translate.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from latentmusic.fileio import write_json

RATE = 44100
MODELS = {"translation-notegrid": "notegrid", "translation-small": "small"}


def _translator(name: str, preset: str) -> tuple[Any, str]:
    """The shipped model, or the preset with random weights (said in the table)."""
    from latentmusic.catalogue import shipped_names
    from latentmusic.translation.config import PRESETS
    from latentmusic.translation.model import UniversalTranslator, load_translator

    if name in shipped_names():
        from latentmusic.catalogue import resolve_model

        return load_translator(resolve_model(name)), "shipped"
    domains = ["clarinet", "flute", "harpsichord", "organ", "piano", "strings"]
    return UniversalTranslator(PRESETS[preset], domains).eval(), "random weights"


def _source_audio(seconds: float) -> np.ndarray:
    """A stereo 44.1 kHz chorale excerpt (the data set's, looped) or a synthetic one."""
    import soxr

    piano = (
        sorted(Path("data/domains/piano").glob("*.wav")) if Path("data/domains").is_dir() else []
    )
    if piano:
        mono, rate = sf.read(piano[0], dtype="float32")
        mono = soxr.resample(mono, rate, RATE)
        mono = mono[int(np.argmax(np.abs(mono) > 0.01)) :]  # from the first note on
    else:
        t = np.arange(int(8 * RATE)) / RATE
        notes = [261.6, 329.6, 392.0, 523.3, 440.0, 349.2, 293.7, 246.9]
        mono = sum(
            0.15 * np.sin(2 * np.pi * f * t) * ((t // 1.0) % 8 == i) for i, f in enumerate(notes)
        )
    n = int(seconds * RATE)
    mono = np.resize(mono.astype(np.float32), n)
    return np.stack([mono, 0.9 * mono], axis=1)


def _write_ogg(path: Path, seconds: float) -> Path:
    from latentmusic.audio import io as audio_io

    return audio_io.save(path, _source_audio(seconds).T, RATE)  # in blocks: see io.save


def _time_translate(model: Any, source: Path, to: Any, out: Path, threads: int) -> dict[str, float]:
    from latentmusic.translation.streaming import translate_file

    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    translate_file(model, source, to, out, seed=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu}


def _peak_rss(name: str, preset: str, source: Path, out: Path) -> float:
    """Peak resident memory (MiB) of a fresh process translating ``source`` into one domain."""
    code = (
        "import resource, sys; sys.path.insert(0, 'benchmarks'); import translate as b; "
        f"m, _ = b._translator({name!r}, {preset!r}); "
        "from latentmusic.translation.streaming import translate_file; "
        f"translate_file(m, {str(source)!r}, m.domains[0], {str(out)!r}, seed=0); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/translate.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": platform.processor() or platform.machine(),
                               "cpus": os.cpu_count(), "rows": []}  # fmt: skip
    # "audio s / CPU s": seconds of translated audio (input length x targets) per CPU second.
    print(f"{'model':24} {'weights':15} {'thr':>3} {'targets':>7} {'audio s':>7} "
          f"{'audio s / CPU s':>15} {'audio s / wall s':>16}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for name, preset in MODELS.items():
            model, weights = _translator(name, preset)
            fast = model.config.decoder != "wavenet"
            seconds = (20.0 if args.quick else 60.0) if fast else (2.0 if args.quick else 5.0)
            source = _write_ogg(tmp_path / f"{name}.ogg", seconds)
            for threads in (1, 2):
                for to, label in ((model.domains[0], 1), ("all", len(model.domains))):
                    t = _time_translate(model, source, to, tmp_path / f"{name}-out", threads)
                    row = {"model": name, "weights": weights, "threads": threads,
                           "targets": label, "audio_seconds": seconds, **t,
                           "audio_per_cpu": seconds * label / t["cpu_s"],
                           "audio_per_wall": seconds * label / t["wall_s"]}  # fmt: skip
                    results["rows"].append(row)
                    print(f"{name:24} {weights:15} {threads:>3} {label:>7} {seconds:>7.0f} "
                          f"{row['audio_per_cpu']:>15.2f} {row['audio_per_wall']:>16.2f}")  # fmt: skip
            if fast:  # bounded memory: peak RSS for a file and one four times as long
                memory = {}
                for factor in (1, 4):
                    src = _write_ogg(tmp_path / f"long{factor}.ogg", seconds * factor)
                    memory[seconds * factor] = _peak_rss(name, preset, src, tmp_path / "m.wav")
                results["memory"] = {"model": name, "peak_rss_mib_by_seconds": memory}
                print("peak RSS (MiB) by input length (s): " + json.dumps(memory))
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
