"""Training throughput of every family on a CPU: one full optimiser step, fast vs reference path.

    python benchmarks/training.py                       # all families, 1 and 2 threads
    python benchmarks/training.py --quick --families nsynth vqvae

One step = forward, loss, backward, optimiser update (Adam/AdamW as each family trains), on a
fixed random batch of the size and crop each family's run script (``scripts/train_*.sh``)
uses, with the ``small`` presets (MusicVAE: ``cat-mel_2bar_small``, float32, teacher forcing).
The fast path (time-major GEMM convolutions, ``latentmusic.nn.timemajor``) and the previous
implementation (``use_fast_path(model, False)``) run interleaved, step by step, on one model
in one process, so both see the same machine load. Families without a fast path (spectral
baseline, prior, MusicVAE) run the same code twice: their ratio shows the noise.

Reported per family, thread count and path: median ms per step, samples (or tokens) per
second, FLOPs of one step counted by ``torch.utils.flop_counter.FlopCounterMode`` on the
reference path (matrix products and convolutions, forward and backward; elementwise ops,
FFTs and the optimiser are not counted) and the GFLOP/s that gives for each path, as a
fraction of the FP32 peak computed from the CPU flags and clock (see :func:`cpu_peak`), and
the peak memory of a step: the growth of the peak resident set (``VmHWM``) over one
step in a fresh subprocess (the first step of a process is where it peaks), at the first
thread count.
Like ``latentmusic train``, the process keeps freed memory (``keep_freed_memory``).
Prints a table and writes ``benchmarks/results/training.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from latentmusic.fileio import write_json
from latentmusic.nn import gated_stack, residual_stack, timemajor
from latentmusic.nn.timemajor import use_fast_path
from latentmusic.train.allocator import keep_freed_memory

RESULTS = Path(__file__).parent / "results" / "training.json"
# The presets measured; "tiny" (--size tiny) only smoke-tests the script in seconds.
SIZE = "small"
FAMILIES = (
    "nsynth",
    "spectral",
    "harmonic",
    "translation",
    "vqvae",
    "prior",
    "upsampler",
    "musicvae",
)


# Paths that run the fast step with one lever turned off:
# path -> (module, its switch, the flag that adds the path to a run, what it measures).
LEVERS = {
    "fast-unfused": (timemajor, "FUSED_GATE", "--unfused-gate",
                     "the gate in plain torch ops (no numba kernel)"),
    "fast-per-op": (gated_stack, "ONE_NODE", "--per-op-layers",
                    "the WaveNet decoder's gated layers op by op"),
    "fast-per-block": (residual_stack, "ONE_NODE", "--per-block-encoders",
                       "the WaveNet encoders' residual blocks one by one"),
    "fast-block-taps": (timemajor, "ONEDNN_BLOCK_CONV", "--block-taps",
                        "the residual blocks' convs as tap GEMMs, not oneDNN"),
    "fast-conv-taps": (timemajor, "ONEDNN_CONVS", "--conv-taps",
                       "the VQ-VAE stacks' other convs as tap GEMMs"),
    "fast-block-gemm": (timemajor, "ONEDNN_POINTWISE", "--block-gemm",
                        "the residual blocks' 1x1 convs as MKL GEMMs"),
}  # fmt: skip


@dataclass
class Job:
    """One family's training step, ready to run."""

    model: torch.nn.Module
    loss: Callable[[], torch.Tensor]
    optimizer: torch.optim.Optimizer
    units: int  # samples (audio) or tokens per step
    unit: str
    setting: str  # preset, batch and crop, for the table
    clip: float = 0.0


def _audio(batch: int, length: int) -> torch.Tensor:
    t = torch.arange(length) / 16000.0
    f = 110.0 * 2 ** (torch.arange(batch)[:, None] / 5.0)
    return 0.4 * torch.sin(2 * torch.pi * f * t) + 0.05 * torch.randn(batch, length)


def _note_job(model: torch.nn.Module) -> Job:
    """An NSynth autoencoder's step (WaveNet, spectral or harmonic): batch 8 of its preset's
    crop, as scripts/train_nsynth_small.sh and train_nsynth_harmonic.sh train them."""
    cfg = model.config
    audio = _audio(8, cfg.crop)
    batch = {"audio": audio, "pitch": 45.0 + 2.4 * torch.arange(8.0)}  # _audio's pitches
    opt = torch.optim.Adam(model.parameters(), cfg.lr)
    return Job(
        model,
        lambda: model.loss(batch)["loss"],
        opt,
        audio.numel(),
        "samples",
        f"{SIZE}, 8 x {cfg.crop}",
    )


def build(family: str) -> Job:
    """The family's ``small`` model, its optimiser and a batch like its run script's."""
    torch.manual_seed(0)
    if family == "nsynth":  # scripts/train_nsynth_small.sh: batch 8, crop 4096
        from latentmusic.nsynth.config import PRESETS
        from latentmusic.nsynth.model import NSynthWaveNetAE

        return _note_job(NSynthWaveNetAE(PRESETS[SIZE]))
    if family == "spectral":  # same script, --model spectral: batch 8, crop 16384
        from latentmusic.nsynth.config import SPECTRAL_PRESETS
        from latentmusic.nsynth.spectral_ae import SpectralAutoencoder

        return _note_job(SpectralAutoencoder(SPECTRAL_PRESETS[SIZE]))
    if family == "harmonic":  # scripts/train_nsynth_harmonic.sh: batch 8, crop 8192
        from latentmusic.nsynth.config import HARMONIC_PRESETS
        from latentmusic.nsynth.harmonic import HarmonicAutoencoder

        return _note_job(HarmonicAutoencoder(HARMONIC_PRESETS[SIZE]))
    if family == "translation":  # batch 8 x 4000 of one domain: encoder, one decoder, confusion
        from latentmusic.translation.config import PRESETS
        from latentmusic.translation.train import TranslationModule

        cfg = PRESETS[SIZE]
        module = TranslationModule(cfg, ["a", "b", "c", "d"])
        batch = {
            "audio": _audio(8, cfg.segment),
            "domain": torch.zeros(8, dtype=torch.int64),
            "encoder_audio": _audio(8, cfg.segment).roll(7, 1),
        }
        opt = module.configure_optimizers()["optimizer"]
        return Job(
            module, lambda: module.losses(batch)["loss"], opt, 8 * cfg.segment, "samples",
            f"{SIZE}, 8 x {cfg.segment}", clip=cfg.grad_clip,
        )  # fmt: skip
    if family == "vqvae":  # scripts/train_jukebox_small.sh: batch 8, segment 16384
        from latentmusic.jukebox.config import VQVAE_PRESETS
        from latentmusic.jukebox.train import VQVAEModule

        cfg = VQVAE_PRESETS[SIZE]
        module = VQVAEModule(cfg, SIZE, power=0.02)
        audio = _audio(8, cfg.segment)
        opt = module.configure_optimizers()["optimizer"]
        return Job(
            module, lambda: module.model.loss({"audio": audio}, module.power)["loss"], opt, audio.numel(), "samples",
            f"{SIZE}, 3 levels, 8 x {cfg.segment}",
        )  # fmt: skip
    if family in ("prior", "upsampler"):  # batch 16 windows of n_ctx tokens, 512 codes
        import dataclasses

        from latentmusic.jukebox.config import PRIOR_PRESETS, UPSAMPLER_PRESETS
        from latentmusic.jukebox.labels import LabelVocab
        from latentmusic.jukebox.prior import Conditioning, Prior

        base = (PRIOR_PRESETS if family == "prior" else UPSAMPLER_PRESETS)[SIZE]
        cfg = dataclasses.replace(base, bins=512, n_artists=4, n_genres=4)
        vocab = LabelVocab(("a", "b", "c", "d"), ("w", "x", "y", "z"))
        model = Prior(cfg, vocab)
        tokens = torch.randint(0, cfg.bins, (16, cfg.n_ctx))
        cond = Conditioning(
            artist=torch.randint(0, 4, (16,)),
            genre=torch.randint(0, 4, (16,)),
            total=torch.full((16,), 16000.0 * 60, dtype=torch.float64),
            start=torch.arange(16, dtype=torch.float64) * 1000,
            upper=torch.randint(0, cfg.bins, (16, cfg.n_ctx // cfg.ratio)) if cfg.ratio else None,
        )
        opt = torch.optim.AdamW(model.parameters(), cfg.lr, betas=(0.9, cfg.beta2))
        return Job(
            model, lambda: model.nll(tokens, cond), opt, tokens.numel(), "tokens",
            f"{SIZE}, 16 x {cfg.n_ctx}",
        )  # fmt: skip
    if family == "musicvae":  # scripts/train_musicvae_corpus.sh: batch 64
        from latentmusic.musicvae.config import PRESETS
        from latentmusic.musicvae.model import MusicVAE

        model = MusicVAE(PRESETS["cat-mel_2bar_small"])
        depth = model.representation.depths[0]
        tokens = torch.randint(0, depth, (64, model.steps, 1))
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        return Job(
            model, lambda: model.loss({"tokens": tokens}, step=0, sampling=0.0)["loss"], opt,
            tokens.shape[0] * tokens.shape[1], "tokens", "cat-mel_2bar_small, 64 x 32", clip=1.0,
        )  # fmt: skip
    raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


def step(job: Job, bf16: bool = False) -> float:
    """One optimiser step (its forward under bfloat16 autocast if ``bf16``, as Lightning's
    ``bf16-mixed`` runs it); returns its wall time in seconds."""
    started = time.perf_counter()
    job.optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = job.loss()
    loss.backward()
    if job.clip:
        torch.nn.utils.clip_grad_norm_(job.model.parameters(), job.clip)
    job.optimizer.step()
    return time.perf_counter() - started


def has_fast_path(model: torch.nn.Module) -> bool:
    return any(hasattr(m, "fast_path") for m in model.modules())


def count_flops(job: Job, fast: bool) -> int:
    """FLOPs of forward + backward of one step (FlopCounterMode: matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    use_fast_path(job.model, fast)
    counter = FlopCounterMode(display=False)
    with counter:
        job.optimizer.zero_grad(set_to_none=True)
        job.loss().backward()
    job.optimizer.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def cpu_peak() -> dict[str, object]:
    """FP32 peak per core from /proc/cpuinfo: lanes x 2 (FMA) x FMA units x clock.

    Assumptions: Intel AVX-512 cores have two 512-bit FMA units (Xeon Scalable server
    parts; one on some client parts), AVX2 cores two 256-bit units. AMD cores are counted by
    the width of their FMA datapath: Zen 1 (family 23, models below 0x30) two 128-bit units
    (16 FLOP a cycle), Zen 2 and 3 two 256-bit, Zen 4 (family 25 with AVX-512) runs 512-bit
    instructions through the same two 256-bit units (also 32 FLOP a cycle), Zen 5 (family
    26) two 512-bit. The clock is the "cpu MHz" the kernel reports (the base clock in a VM;
    turbo would raise the real peak).
    """
    info: dict[str, str] = {}
    flags, name = set(), platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "flags" and not flags:
                flags = set(value.split())
            elif key and key not in info:
                info[key] = value
    except OSError:
        pass
    name = info.get("model name", name)
    mhz = float(info.get("cpu MHz", 0) or 0)
    fma = 2 if "fma" in flags or "avx512f" in flags else 1
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    units = 2
    if info.get("vendor_id") == "AuthenticAMD":
        family, model = int(info.get("cpu family", 0)), int(info.get("model", 0))
        datapath = 512 if family >= 26 else 128 if family == 23 and model < 0x30 else 256
        units = 2 * datapath // (32 * lanes) or 1  # lanes: the widest instructions' floats
    per_core = lanes * fma * units * mhz / 1000.0  # GFLOP/s
    return {
        "cpu": name,
        "mhz": mhz,
        "simd_fp32_lanes": lanes,
        "fma_units_assumed": units,
        "peak_gflops_per_core": round(per_core, 1),
        "formula": f"{lanes} lanes x {fma} (FMA) x {units} units x {mhz / 1000:.2f} GHz",
    }


def measure_memory(family: str, path: str, threads: int) -> float:
    """Peak-RSS growth (MiB) over the first step of ``path``, in a fresh process."""
    cmd = [sys.executable, __file__, "--_memory", family, path, str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_mib"])


def _peak_rss_kib() -> int:
    """This process's peak resident set in KiB: ``VmHWM`` of ``/proc/self/status`` where
    there is one. ``ru_maxrss`` is a fallback only: Linux carries it across ``execve``, so a
    child started by a large parent reads the parent's peak (every growth then came out 0)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def select_path(job: Job, path: str) -> None:
    """Set the model and the lever switches for ``path`` (reference, fast or a LEVERS key)."""
    use_fast_path(job.model, path.startswith("fast"))
    for lever, (module, switch, *_) in LEVERS.items():
        setattr(module, switch, path != lever)


def _memory_child(family: str, path: str, threads: int) -> None:
    torch.set_num_threads(threads)
    keep_freed_memory()
    job = build(family)
    select_path(job, path)
    before = _peak_rss_kib()
    step(job)
    after = _peak_rss_kib()
    print(json.dumps({"peak_mib": round((after - before) / 1024, 1)}))


def bench_family(
    family: str,
    threads: list[int],
    repeats: int,
    warmup: int,
    peak: float,
    memory: bool,
    bf16: bool = False,
    levers: Sequence[str] = (),
) -> list[dict[str, object]]:
    job = build(family)
    fast_available = has_fast_path(job.model)
    torch.set_num_threads(max(threads))
    step(job)  # first step: lazy initialisation (VQ k-means start, allocator growth)
    flops = count_flops(job, fast=False)
    flops_fast = count_flops(job, fast=True) if fast_available else flops
    # Peak memory hardly depends on the thread count: measure it once per path.
    # bf16: the step under bfloat16 autocast, where the time-major kernels step aside and
    # oneDNN runs the convolutions and GEMMs in bf16 (AMX where the CPU has it).
    # levers: the fast path with one lever off (LEVERS), each measured alone.
    paths = ("reference", "fast") + tuple(levers) + (("bf16",) if bf16 else ())
    peak_mib = {
        path: measure_memory(family, path, threads[0]) if memory and path != "bf16" else None
        for path in paths
    }
    rows = []
    for n in threads:
        torch.set_num_threads(n)
        times: dict[str, list[float]] = {path: [] for path in paths}
        for i in range(warmup + repeats):
            order = paths if i % 2 == 0 else paths[::-1]
            for path in order:
                select_path(job, path)
                seconds = step(job, bf16=path == "bf16")
                if i >= warmup:
                    times[path].append(seconds)
        ref_median = statistics.median(times["reference"])
        for path in paths:
            median = statistics.median(times[path])
            gflops = flops / median / 1e9
            rows.append(
                {
                    "family": family,
                    "setting": job.setting,
                    "threads": n,
                    "path": path,
                    "has_fast_path": fast_available,
                    "median_ms": round(median * 1e3, 1),
                    "min_ms": round(min(times[path]) * 1e3, 1),
                    "units_per_s": round(job.units / median, 1),
                    "unit": job.unit,
                    "speedup": round(ref_median / median, 2),
                    "gflop_per_step": round(flops / 1e9, 2),
                    "gflop_per_step_counted_on_path": round(
                        (flops_fast if path.startswith("fast") else flops) / 1e9, 2
                    ),
                    "gflops": round(gflops, 1),
                    "fraction_of_peak": round(gflops / (peak * n), 3),
                    "peak_mib": peak_mib[path],
                }
            )
        use_fast_path(job.model, True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per path")
    parser.add_argument("--quick", action="store_true", help="2 timed steps, no memory runs")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--size", choices=("small", "tiny"), default="small")
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="also time the step under bfloat16 autocast (--precision bf16-mixed)",
    )
    for _, _, flag, what in LEVERS.values():
        parser.add_argument(flag, action="store_true", help=f"also time the fast path with {what}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--_memory", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global SIZE
    SIZE = args.size
    if args._memory:
        _memory_child(args._memory[0], args._memory[1], int(args._memory[2]))
        return
    keep_freed_memory()
    repeats = args.repeats or (2 if args.quick else 5)
    warmup = 1
    cpu = cpu_peak()
    peak = float(cpu["peak_gflops_per_core"]) or float("nan")
    load_before = os.getloadavg()
    print(
        f"{cpu['cpu']}: FP32 peak {cpu['peak_gflops_per_core']} GFLOP/s per core ({cpu['formula']})"
    )
    print(
        f"{'family':<12}{'thr':>4} {'path':<15}{'ms/step':>9}{'units/s':>10} {'unit':<8}"
        f"{'speedup':>8}{'GFLOP':>8}{'GFLOP/s':>9}{'%peak':>7}{'MiB':>8}",
        flush=True,
    )
    rows: list[dict[str, object]] = []
    memory = not (args.quick or args.no_memory)
    for family in args.families:
        levers = [path for path, (*_, flag, _) in LEVERS.items()
                  if getattr(args, flag[2:].replace("-", "_"))]  # fmt: skip
        new = bench_family(family, args.threads, repeats, warmup, peak, memory, args.bf16, levers)
        for r in new:
            mib = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
            print(
                f"{r['family']:<12}{r['threads']:>4} {r['path']:<15}{r['median_ms']:>9.0f}"
                f"{r['units_per_s']:>10.0f} {r['unit']:<8}{r['speedup']:>8.2f}"
                f"{r['gflop_per_step']:>8.1f}{r['gflops']:>9.1f}"
                f"{100 * r['fraction_of_peak']:>6.0f}%{mib:>8}",
                flush=True,
            )
        rows += new
        write_json(  # after every family, so an interrupted run keeps what it measured
            args.out,
            {
                "benchmark": "training",
                "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "torch": torch.__version__,
                "cpu": cpu,
                "cores": os.cpu_count(),
                "repeats": repeats,
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
                "rows": rows,
            },
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
