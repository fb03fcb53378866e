"""Jukebox speed on CPU: VQ-VAE real-time factor per level, prior sampling with/without KV cache.

    python benchmarks/jukebox.py            # full: 20 s of audio, 2048 prior tokens
    python benchmarks/jukebox.py --quick    # ~2 minutes: 4 s of audio, 1024 tokens
    python benchmarks/jukebox.py --quick --chain jukebox-small   # + the shipped chain
    python benchmarks/jukebox.py --chain jukebox-small --chain-only --chain-seconds 2

Models are the ``small`` presets with random weights (speed does not depend on training).
The prior runs with ``n_ctx`` = the number of tokens so the whole draw is one window; the
cached and uncached draws use the same seed and must give identical tokens. ``--chain``
adds what a user waits for: ``jukebox sample`` on a trained chain (windowed, KV cache),
top level decoded alone and the whole chain (top prior -> upsamplers -> decoder), in
seconds of CPU time per second of audio. Prints a table and writes
``benchmarks/results/jukebox.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from pathlib import Path

import torch

from latentmusic.fileio import write_json
from latentmusic.jukebox.config import PRIOR_PRESETS, VQVAE_PRESETS
from latentmusic.jukebox.prior import Conditioning, Prior
from latentmusic.jukebox.vqvae import VQVAE

RESULTS = Path(__file__).parent / "results" / "jukebox.json"


def bench_vqvae(seconds: float, repeats: int) -> list[dict[str, float]]:
    cfg = VQVAE_PRESETS["small"]
    model = VQVAE(cfg).eval()
    torch.manual_seed(0)
    audio = 0.1 * torch.randn(1, int(seconds * cfg.sample_rate))
    rows = []
    for level, hop in enumerate(cfg.hops):
        model.reconstruct(audio[:, : cfg.sample_rate], level)  # warm-up
        best_enc = best_dec = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            codes = model.encode(audio, [level])[0]
            t1 = time.perf_counter()
            model.decode(codes, level)
            t2 = time.perf_counter()
            best_enc, best_dec = min(best_enc, t1 - t0), min(best_dec, t2 - t1)
        total = best_enc + best_dec
        rows.append(
            {
                "level": level,
                "hop": hop,
                "audio_seconds": seconds,
                "encode_s": best_enc,
                "decode_s": best_dec,
                "rtf": total / seconds,  # compute time / audio time (< 1: faster than real time)
                "x_realtime": seconds / total,
            }
        )
    return rows


def bench_prior(tokens: int) -> dict[str, float | bool | int]:
    cfg = dataclasses.replace(
        PRIOR_PRESETS["small"], n_ctx=tokens, bins=512, n_artists=2, n_genres=4
    )
    torch.manual_seed(0)
    model = Prior(cfg).eval()
    cond = Conditioning(
        torch.tensor([0]),
        torch.tensor([1]),
        torch.tensor([60.0 * cfg.sample_rate], dtype=torch.float64),
        torch.tensor([0.0], dtype=torch.float64),
    )
    out = {}
    draws = {}
    for use_cache in (True, False):
        gen = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        draws[use_cache] = model.sample_window(tokens, cond, generator=gen, use_cache=use_cache)
        dt = time.perf_counter() - t0
        key = "cached" if use_cache else "uncached"
        out[f"{key}_s"] = dt
        out[f"{key}_tokens_per_s"] = tokens / dt
    out["tokens"] = tokens
    out["width"], out["depth"], out["heads"] = cfg.width, cfg.depth, cfg.heads
    out["speedup"] = out["uncached_s"] / out["cached_s"]
    out["identical_tokens"] = bool(torch.equal(draws[True], draws[False]))
    return out


def bench_chain(model: str, seconds: float) -> list[dict[str, float | str]]:
    """CPU seconds per second of audio for ``generate`` on a trained chain, per stage."""
    from latentmusic.catalogue import resolve_model
    from latentmusic.jukebox.sampling import generate, load_run

    run = load_run(resolve_model(model))
    labels = {"artist": run.prior.vocab.artists[0], "genre": run.prior.vocab.genres[0]}
    generate(run, 0.5, upsample=False, **labels)  # warm-up
    rows = []
    for name, upsample in (("top level only", False), ("whole chain", True)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = generate(run, seconds, upsample=upsample, seed=0, **labels)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append(
            {
                "stage": name,
                "decoded_level": result.decoded_level,
                "audio_seconds": seconds,
                "cpu_s_per_audio_s": cpu / seconds,
                "wall_s_per_audio_s": wall / seconds,
            }
        )
    return rows


def _print_models(vq: list[dict], prior: dict, seconds: float, tokens: int) -> None:
    print(
        f"VQ-VAE (small preset, {seconds:g} s of 16 kHz audio, {torch.get_num_threads()} threads)"
    )
    print(f"{'level':>5} {'hop':>4} {'encode s':>9} {'decode s':>9} {'RTF':>7} {'x realtime':>11}")
    for r in vq:
        print(
            f"{r['level']:>5} {r['hop']:>4} {r['encode_s']:>9.3f} {r['decode_s']:>9.3f} "
            f"{r['rtf']:>7.3f} {r['x_realtime']:>11.1f}"
        )
    print(
        f"\nPrior sampling (small preset, width {prior['width']}, depth {prior['depth']}, "
        f"{tokens} tokens)"
    )
    print(f"{'':>10} {'seconds':>9} {'tokens/s':>9}")
    for key in ("cached", "uncached"):
        print(f"{key:>10} {prior[f'{key}_s']:>9.2f} {prior[f'{key}_tokens_per_s']:>9.1f}")
    print(f"speed-up {prior['speedup']:.1f}x, identical tokens: {prior['identical_tokens']}")


def _print_chain(model: str, seconds: float, rows: list[dict]) -> None:
    print(
        f"\njukebox sample on {model} ({seconds:g} s of audio, {torch.get_num_threads()} threads)"
    )
    print(f"{'stage':>15} {'level':>5} {'CPU s / audio s':>16} {'wall s / audio s':>17}")
    for r in rows:
        print(
            f"{r['stage']:>15} {r['decoded_level']:>5} {r['cpu_s_per_audio_s']:>16.2f} "
            f"{r['wall_s_per_audio_s']:>17.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Short run (about two minutes).")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--chain", default=None, help="A trained chain (path or shipped name) to sample from."
    )
    parser.add_argument(
        "--chain-seconds", type=float, default=2.0, help="Audio drawn from the chain (seconds)."
    )
    parser.add_argument(
        "--chain-only", action="store_true", help="Only the chain (no random-weight models)."
    )
    args = parser.parse_args()
    if args.chain_only and not args.chain:
        parser.error("--chain-only needs --chain MODEL.")
    if args.chain_only and args.out == RESULTS:  # keep the models' figures beside it
        args.out = RESULTS.with_name("jukebox_chain.json")
    if args.threads:
        torch.set_num_threads(args.threads)
    seconds, repeats, tokens = (4.0, 2, 1024) if args.quick else (20.0, 3, 2048)
    vq: list[dict] = []
    prior: dict = {}
    if not args.chain_only:
        vq, prior = bench_vqvae(seconds, repeats), bench_prior(tokens)
        _print_models(vq, prior, seconds, tokens)
    chain = bench_chain(args.chain, args.chain_seconds) if args.chain else []
    if chain:
        _print_chain(args.chain, args.chain_seconds, chain)
    write_json(
        args.out,
        {
            "benchmark": "jukebox",
            "quick": args.quick,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "vqvae": vq,
            "prior": prior,
            "chain": {"model": args.chain, "seconds": args.chain_seconds, "rows": chain}
            if chain
            else None,
        },
    )
    print(f"\nwrote {args.out}")
    if prior and (not prior["identical_tokens"] or prior["speedup"] < 10):
        raise SystemExit("KV cache check failed: tokens differ or speed-up < 10x.")


if __name__ == "__main__":
    main()
