"""WaveNet generation speed on the CPU: naive recompute vs cached torch vs fused kernel.

    python benchmarks/wavenet_generation.py            # full run
    python benchmarks/wavenet_generation.py --quick    # a few samples per config (< ~3 min)

For every reference decoder size (``latentmusic.nn.wavenet.DECODER_SIZES``: NSynth and
UMT decoders, ``paper`` and ``small``), batch 1 and 16, 1 and 2 threads, it times

- naive: one step recomputes the teacher-forced pass over the whole receptive field
  (timed on a window of ``--naive-window`` positions and scaled linearly to the receptive
  field when that is longer: a conv's cost is linear in the number of output positions);
- torch: the cached incremental decoder with torch ops (``backend="torch"``);
- fused: the cached decoder in the numba kernel (``backend="fused"``, the default on CPU);

and reports µs per generated sample (wall clock, per batch item), the real-time factor at
16 kHz (62.5 µs per sample is 1.0x), CPU µs per sample (process time; on a busy shared
machine wall time overstates cost, CPU time less so) and the speed-up over naive. Then it
decodes a long input sequentially and with ``generate_chunked`` and reports the speed
gain and the quality cost (multi-resolution STFT distance to sequential decoding with the
same seed, next to the distance between two sequential runs with different seeds).

Beside the WaveNets, the fast NSynth decoder (``harmonic``, issue 15's target: at least 50x
real time on one thread at batch 1): the shipped ``nsynth-harmonic`` model (the ``small``
preset, random weights, where it is not shipped) decodes a 4 s embedding (1 s with
``--quick``) at batch 1 and 16, low / middle / high pitches (a low note keeps more of its 80
harmonics under Nyquist, the bulk of the synthesizer's cost), median of repeats; the
encoder (the WaveNet-style one NSynth shares) is timed on its own, as is ``reconstruct``
(encode + decode at a given pitch). ``--only harmonic`` runs just this part;
``--no-harmonic`` skips it.

Prints a table and writes JSON (default benchmarks/results/wavenet_generation.json).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from latentmusic.audio.mulaw import mu_law_decode
from latentmusic.audio.spectral import multi_resolution_stft_distance
from latentmusic.fileio import write_json
from latentmusic.nn import wavenet_fused
from latentmusic.nn.wavenet import DECODER_SIZES, WaveNetDecoder

SR = 16000
REALTIME_US = 1e6 / SR  # 62.5 µs per sample is real time at 16 kHz

# Steps timed per config (per batch size): (quick, full). Chosen so each timing is > ~0.3 s.
STEPS = {
    "fused": {"nsynth-paper": (6, 64), "umt-paper": (64, 800), "small": (1024, 16000)},
    "torch": {"nsynth-paper": (4, 32), "umt-paper": (16, 200), "small": (128, 2000)},
}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _steps(backend: str, name: str, quick: bool, batch: int) -> int:
    table = STEPS[backend]
    quick_n, full_n = table.get(name, table["small"])
    n = quick_n if quick else full_n
    return max(4, n // (4 if batch > 1 else 1))


def _timed(fn: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def time_cached(dec: WaveNetDecoder, backend: str, batch: int, n: int) -> tuple[float, float]:
    """Seconds (wall, cpu) per decoding step of ``batch`` samples, after a warm-up."""
    cond = torch.randn(batch, dec.cond_channels, math.ceil(n / dec.hop) + 1)
    dec.generate(cond, n_samples=2, backend=backend, seed=0)  # compile / load, allocate
    wall, cpu = _timed(lambda: dec.generate(cond, n_samples=n, backend=backend, seed=0))
    return wall / n, cpu / n


def time_naive(dec: WaveNetDecoder, batch: int, window: int) -> tuple[float, float, int]:
    """Seconds (wall, cpu) per naive step: a teacher-forced pass over the receptive field."""
    rf = dec.receptive_field
    w = min(rf, window)
    cond = torch.randn(batch, dec.cond_channels, math.ceil(w / dec.hop) + 1)
    prev = torch.randint(0, dec.n_classes, (batch, w))

    def step() -> None:
        with torch.inference_mode():
            logits = dec._logits_from_prev(prev, cond, 0)[:, :, -1]
            torch.multinomial(torch.softmax(logits, 1), 1)

    wall, cpu = _timed(step)
    return wall * rf / w, cpu * rf / w, w


def run_speed(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    names = [n for n in DECODER_SIZES if not args.only or n in args.only]
    for name in names:
        torch.manual_seed(0)
        dec = WaveNetDecoder(**DECODER_SIZES[name]).eval()
        params = sum(p.numel() for p in dec.parameters())
        for threads in args.threads:
            torch.set_num_threads(threads)
            for batch in args.batches:
                naive_wall = None
                for backend in ("naive", "torch", "fused"):
                    if backend == "naive":
                        window = args.naive_window if batch == 1 else args.naive_window // 4
                        wall, cpu, used = time_naive(dec, batch, window)
                        naive_wall, steps = wall, 1
                    else:
                        steps = _steps(
                            backend, "small" if "small" in name else name, args.quick, batch
                        )
                        wall, cpu = time_cached(dec, backend, batch, steps)
                        used = None
                    us = wall / batch * 1e6
                    row = {
                        "decoder": name,
                        "params": params,
                        "receptive_field": dec.receptive_field,
                        "backend": backend,
                        "batch": batch,
                        "threads": threads,
                        "steps_timed": steps,
                        "us_per_sample": round(us, 2),
                        "realtime_factor": round(REALTIME_US / us, 4),
                        "cpu_us_per_sample": round(cpu / batch * 1e6, 2),
                        "speedup_vs_naive": round(naive_wall / wall, 1) if naive_wall else None,
                    }
                    if used is not None:
                        row["naive_window"] = used
                        row["scaled_to_receptive_field"] = used < dec.receptive_field
                    rows.append(row)
                    _print_row(row)
    return rows


def run_chunked(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Sequential vs chunked-parallel decoding of one long input (batch 1)."""
    out = []
    seconds = 2.0 if args.quick else 6.0
    for name in ("nsynth-small", "umt-small"):
        if args.only and name not in args.only:
            continue
        torch.manual_seed(0)
        dec = WaveNetDecoder(**DECODER_SIZES[name]).eval()
        frames = int(seconds * SR / dec.hop)
        chunk = max(2, frames // 8)
        overlap = max(2, chunk // 2)
        cond = torch.randn(1, dec.cond_channels, frames)
        torch.set_num_threads(max(args.threads))
        dec.generate(cond[:, :, :1], n_samples=8)  # warm-up
        dec.generate_chunked(cond[:, :, :4], chunk_frames=2, overlap_frames=2)
        got: dict[str, torch.Tensor] = {}
        seq_wall, _ = _timed(lambda d=dec, c=cond, got=got: got.update(seq=d.generate(c, seed=5)))
        chunked_wall, _ = _timed(
            lambda d=dec, c=cond, k=chunk, o=overlap, got=got: got.update(
                chunked=d.generate_chunked(c, chunk_frames=k, overlap_frames=o, seed=5)
            )
        )
        seq, chunked = got["seq"], got["chunked"]
        other = dec.generate(cond, seed=6)
        a_seq, a_other, a_chunk = (mu_law_decode(x[0]).numpy() for x in (seq, other, chunked))
        row = {
            "decoder": name,
            "seconds": seconds,
            "frames": frames,
            "chunk_frames": chunk,
            "overlap_frames": overlap,
            "crossfade_frames": max(1, overlap // 2),
            "threads": max(args.threads),
            "sequential_s": round(seq_wall, 3),
            "chunked_s": round(chunked_wall, 3),
            "speedup": round(seq_wall / chunked_wall, 2),
            "identical_codes_fraction": round(float((seq == chunked).double().mean()), 4),
            "mrstft_chunked_vs_sequential": round(
                multi_resolution_stft_distance(a_seq, a_chunk), 4
            ),
            "mrstft_other_seed_vs_sequential": round(
                multi_resolution_stft_distance(a_seq, a_other), 4
            ),
        }
        out.append(row)
        print(
            f"chunked {name}: {seconds:.0f} s of audio, chunks of {chunk} frames (+{overlap} "
            f"overlap): sequential {seq_wall:.2f} s, chunked {chunked_wall:.2f} s "
            f"({row['speedup']}x); identical codes {row['identical_codes_fraction']:.1%}; "
            f"MR-STFT to sequential {row['mrstft_chunked_vs_sequential']} (another seed: "
            f"{row['mrstft_other_seed_vs_sequential']})",
            flush=True,
        )
    return out


HARMONIC_PITCHES = (36, 60, 84)  # C2, C4, C6


def _harmonic_model() -> tuple[Any, str]:
    """The shipped fast decoder (what users run), else the same preset with random weights
    (its speed does not depend on the weights)."""
    from latentmusic.catalogue import shipped_models
    from latentmusic.nsynth.config import HARMONIC_PRESETS
    from latentmusic.nsynth.harmonic import HarmonicAutoencoder
    from latentmusic.nsynth.verbs import load_model

    for shipped in shipped_models():
        if shipped.name == "nsynth-harmonic":
            return load_model(shipped.path), "shipped nsynth-harmonic"
    torch.manual_seed(0)
    return HarmonicAutoencoder(HARMONIC_PRESETS["small"]).eval(), "small preset, random weights"


def _median_timed(fn: Any, repeats: int) -> tuple[float, float]:
    """Median (wall, cpu) seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = [_timed(fn) for _ in range(repeats)]
    walls, cpus = zip(*times, strict=True)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


def run_harmonic(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Decoding speed of the harmonic-plus-noise decoder against real time (see the doc)."""
    model, source = _harmonic_model()
    seconds = 1.0 if args.quick else 4.0
    repeats = 3 if args.quick else 7
    frames = int(seconds * model.sample_rate) // model.hop
    audio_s = frames * model.hop / model.sample_rate
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batches:
            gen = torch.Generator().manual_seed(0)
            z = 0.5 * torch.randn(batch, frames, model.bottleneck, generator=gen)
            # a pitched note (C4, 20 harmonics, a little noise): the shipped encoder estimates
            # the source's pitch for its measured inputs, as it does for a user's note
            t = torch.arange(frames * model.hop) / model.sample_rate
            k = torch.arange(1, 21)[:, None]
            tone = (torch.sin(2 * torch.pi * 261.63 * k * t) / k).sum(0) * 0.2
            audio = (tone + 0.01 * torch.randn(batch, t.numel(), generator=gen)).clamp(-1, 1)
            jobs: list[tuple[str, int | None, Any]] = [
                ("decode", p, lambda p=p, z=z: model.decode(z, pitch=p, seed=0))
                for p in HARMONIC_PITCHES
            ]
            jobs.append(("encode", None, lambda a=audio: model.encode(a)))
            jobs.append(("reconstruct", 60, lambda a=audio: model.reconstruct(a, pitch=60, seed=0)))
            for what, pitch, fn in jobs:
                wall, cpu = _median_timed(fn, repeats)
                row = {
                    "decoder": "nsynth-harmonic",
                    "model": source,
                    "what": what,
                    "pitch": pitch,
                    "batch": batch,
                    "threads": threads,
                    "audio_seconds": round(audio_s, 3),
                    "repeats": repeats,
                    "wall_s": round(wall, 5),
                    "cpu_s": round(cpu, 5),
                    # seconds of audio made per second, per batch item counted
                    "realtime_factor": round(batch * audio_s / wall, 1),
                    "cpu_realtime_factor": round(batch * audio_s / cpu, 1) if cpu > 0 else None,
                }
                rows.append(row)
                print(
                    f"harmonic {what:<11} pitch={pitch if pitch else '-':<3} B={batch:<3} "
                    f"thr={threads} {wall * 1e3:>9.1f} ms for {audio_s:.2f} s x {batch}  "
                    f"RTF {row['realtime_factor']:>8.1f}  cpu RTF {row['cpu_realtime_factor']}",
                    flush=True,
                )
    return rows


def _print_row(row: dict[str, Any]) -> None:
    speed = f"{row['speedup_vs_naive']:>8.0f}x" if row["speedup_vs_naive"] else f"{'':>9}"
    print(
        f"{row['decoder']:<13} {row['backend']:<6} B={row['batch']:<3} thr={row['threads']} "
        f"{row['us_per_sample']:>12.1f} us/sample  RTF {row['realtime_factor']:>8.4f}  "
        f"cpu {row['cpu_us_per_sample']:>12.1f} us/sample {speed}",
        flush=True,
    )


def _targets(rows: list[dict[str, Any]], harmonic: list[dict[str, Any]]) -> dict[str, Any]:
    def pick(name: str, backend: str, batch: int, threads: int) -> dict[str, Any] | None:
        for r in rows:
            if (r["decoder"], r["backend"], r["batch"], r["threads"]) == (
                name,
                backend,
                batch,
                threads,
            ):
                return r
        return None

    out: dict[str, Any] = {}
    small = pick("nsynth-small", "fused", 1, 1)
    if small:
        out["small_b1_1thread_realtime"] = {
            "us_per_sample": small["us_per_sample"],
            "cpu_us_per_sample": small["cpu_us_per_sample"],
            "met_wall": small["us_per_sample"] <= REALTIME_US,
            "met_cpu": small["cpu_us_per_sample"] <= REALTIME_US,
        }
    paper = [
        r
        for r in rows
        if r["decoder"] == "nsynth-paper" and r["batch"] == 1 and r["backend"] == "fused"
    ]
    if paper:
        best = max(paper, key=lambda r: r["realtime_factor"])
        out["nsynth_paper_b1_tenth_realtime"] = {
            "best_realtime_factor": best["realtime_factor"],
            "threads": best["threads"],
            "met": best["realtime_factor"] >= 0.1,
        }
    decode_b1 = [r for r in harmonic if (r["what"], r["batch"], r["threads"]) == ("decode", 1, 1)]
    if decode_b1:
        slowest = min(decode_b1, key=lambda r: r["realtime_factor"])
        out["harmonic_decode_b1_1thread_50x_realtime"] = {
            "by_pitch": {str(r["pitch"]): r["realtime_factor"] for r in decode_b1},
            "slowest_pitch": slowest["pitch"],
            "min_realtime_factor": slowest["realtime_factor"],
            "min_cpu_realtime_factor": min(r["cpu_realtime_factor"] or 0 for r in decode_b1),
            "met_wall": slowest["realtime_factor"] >= 50,
        }
    cached = [r for r in rows if r["backend"] != "naive" and r["speedup_vs_naive"]]
    if cached:
        out["cached_50x_naive"] = {
            "min_speedup_fused": min(
                r["speedup_vs_naive"] for r in cached if r["backend"] == "fused"
            ),
            "min_speedup_torch": min(
                r["speedup_vs_naive"] for r in cached if r["backend"] == "torch"
            ),
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few samples per config (< ~3 min)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="default: benchmarks/results/wavenet_generation.json "
        "(harmonic_decoding.json for --only harmonic)",
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument(
        "--only", nargs="*", default=None, help=f"subset of {[*DECODER_SIZES, 'harmonic']}"
    )
    parser.add_argument("--naive-window", type=int, default=None)
    parser.add_argument("--no-chunked", action="store_true")
    parser.add_argument("--no-harmonic", action="store_true", help="skip the fast NSynth decoder")
    args = parser.parse_args(argv)
    if args.json is None:
        alone = args.only and set(args.only) == {"harmonic"}
        name = "harmonic_decoding.json" if alone else "wavenet_generation.json"
        args.json = Path("benchmarks/results") / name
    if args.naive_window is None:
        args.naive_window = 256 if args.quick else 8192
    started = time.perf_counter()
    load_start = os.getloadavg()
    print(
        f"WaveNet generation benchmark ({'quick' if args.quick else 'full'}) on {_cpu_name()}, "
        f"{os.cpu_count()} cpus, load average {load_start[0]:.1f}; numba kernel "
        f"{'available' if wavenet_fused.available() else 'missing'}",
        flush=True,
    )
    rows = run_speed(args)
    chunked = [] if args.no_chunked else run_chunked(args)
    wants_harmonic = not args.no_harmonic and (not args.only or "harmonic" in args.only)
    harmonic = run_harmonic(args) if wants_harmonic else []
    result = {
        "command": "python "
        + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "numba_compile_or_cache_load_s": {
            k: round(v, 2) for k, v in wavenet_fused.COMPILE_SECONDS.items()
        },
        "decoder_sizes": DECODER_SIZES,
        "sample_rate": SR,
        "results": rows,
        "chunked": chunked,
        "harmonic": harmonic,
        "targets": _targets(rows, harmonic),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_json(args.json, result)
    print(f"targets: {result['targets']}")
    print(f"wrote {args.json} in {result['wall_seconds']} s")
    return result


if __name__ == "__main__":
    main()
