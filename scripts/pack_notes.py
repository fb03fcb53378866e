"""Pack an NSynth-format note set small enough to travel to a rented GPU, and unpack it there.

A device call carries at most 64 MiB with the repository, and FluidR3's 4-second training
notes are 500 MB as WAV. Packing keeps each note's first ``--seconds`` (the attack and
sustain that the random training crops and the eval's first second look at) as Ogg Vorbis
(~40 MB for 3,970 notes at 1.75 s); unpacking decodes them back to 16-bit WAV in the
NSynth layout that ``latentmusic train nsynth`` reads. The codec's error sits at about the
level of the WaveNet's own 8-bit mu-law quantisation (median SNR ~28 dB at quality 0.5).

    python scripts/pack_notes.py pack data/notes-fluidr3 .gpu/notes --seconds 1.75 --max-valid 200
    python scripts/pack_notes.py unpack .gpu/notes data/notes          # on the GPU machine
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from latentmusic.errors import InputError
from latentmusic.fileio import atomic_dir


def _pack_one(task: tuple[Path, Path, float, float]) -> None:
    src, dst, seconds, quality = task
    audio, sr = sf.read(src, dtype="float32")
    audio = audio[: int(seconds * sr)]
    sf.write(dst, audio, sr, format="OGG", subtype="VORBIS", compression_level=quality)


def pack(src: Path, final: Path, seconds: float, quality: float, max_valid: int) -> None:
    """Copy the train split whole and ``max_valid`` notes of the valid split, trimmed, as Ogg
    (into a temporary folder renamed to ``final`` when complete: never a half-packed set)."""
    with atomic_dir(final) as dst:
        _pack_into(src, dst, seconds, quality, max_valid)
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    print(f"packed {src} ({seconds} s a note) into {final}: {size / 1e6:.1f} MB")


def _pack_into(src: Path, dst: Path, seconds: float, quality: float, max_valid: int) -> None:
    tasks = []
    for split, cap in (("train", None), ("valid", max_valid)):
        examples = json.loads((src / split / "examples.json").read_text())
        keys = sorted(examples)
        if cap is not None and len(keys) > cap:  # spread over the split, not its head
            keys = [keys[int(i)] for i in np.linspace(0, len(keys) - 1, cap)]
        (dst / split / "audio").mkdir(parents=True, exist_ok=True)
        kept = {k: examples[k] for k in keys}
        (dst / split / "examples.json").write_text(json.dumps(kept))
        for k in keys:
            name = examples[k]["note_str"]
            tasks.append(
                (
                    src / split / "audio" / f"{name}.wav",
                    dst / split / "audio" / f"{name}.ogg",
                    seconds,
                    quality,
                )
            )
    with ProcessPoolExecutor() as pool:
        list(pool.map(_pack_one, tasks, chunksize=64))


def _unpack_one(task: tuple[Path, Path]) -> None:
    src, dst = task
    audio, sr = sf.read(src, dtype="float32")
    sf.write(dst, audio, sr, subtype="PCM_16")


def unpack(src: Path, final: Path) -> None:
    """Decode a packed set back to the NSynth layout (16-bit WAV), whole or not at all."""
    with atomic_dir(final) as dst:
        n = _unpack_into(src, dst)
    print(f"unpacked {n} notes into {final}")


def _unpack_into(src: Path, dst: Path) -> int:
    tasks = []
    for split_dir in sorted(p for p in src.iterdir() if p.is_dir()):
        out = dst / split_dir.name
        (out / "audio").mkdir(parents=True, exist_ok=True)
        (out / "examples.json").write_text((split_dir / "examples.json").read_text())
        for ogg in sorted((split_dir / "audio").glob("*.ogg")):
            tasks.append((ogg, out / "audio" / f"{ogg.stem}.wav"))
    with ProcessPoolExecutor() as pool:
        list(pool.map(_unpack_one, tasks, chunksize=64))
    return len(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("pack")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--seconds", type=float, default=1.75)
    p.add_argument("--quality", type=float, default=0.5, help="Vorbis compression level 0..1")
    p.add_argument("--max-valid", type=int, default=200)
    u = verbs.add_parser("unpack")
    u.add_argument("src", type=Path)
    u.add_argument("dst", type=Path)
    args = parser.parse_args()
    try:
        if args.verb == "pack":
            pack(args.src, args.dst, args.seconds, args.quality, args.max_valid)
        else:
            unpack(args.src, args.dst)
    except (InputError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
