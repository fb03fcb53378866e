"""Codes on disk: encode audio files (or a whole data set, once) with a trained VQ-VAE.

Prior and upsampler training read codes, not audio: ``encode_dataset`` runs the VQ-VAE
over every file of a data set and writes one ``.npz`` per file (``z0``, ``z1``, ``z2``:
the codes of each level) plus ``manifest.json`` with the labels (artist, genre, lyrics),
the split and the VQ-VAE the codes came from. Long files are encoded and decoded in
overlapping chunks so memory stays flat.

Codes directory layout::

    CODES/manifest.json            {"format": "latentmusic-jukebox-codes", "vqvae": ..., "files": [...]}
    CODES/<split>/<path of the audio file in DATA>.npz

Encoding is cached: each ``.npz`` records a fingerprint of the VQ-VAE weights and of the
audio file (size, modification time, ``max_seconds``), and a later run into the same
directory re-encodes only what changed, so a stopped or grown encode resumes.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentmusic.errors import CheckpointError, InputError, LatentMusicWarning
from latentmusic.fileio import atomic_path, ensure_writable_dir, write_json
from latentmusic.progress import progress_bar

CODES_FORMAT = "latentmusic-jukebox-codes"
MANIFEST = "manifest.json"
SPLITS = ("train", "valid", "test")


# ---------------------------------------------------------------------------- model lookup
def resolve_vqvae(path: str | Path, _seen: frozenset[Path] = frozenset()) -> Path:
    """The VQ-VAE checkpoint inside ``path``: the path itself, or ``path/vqvae`` of a run.

    For a prior or upsampler checkpoint: the ``vqvae/`` beside it in its run (what
    ``jukebox sample`` uses, so a copied or moved run keeps using its own), else the VQ-VAE
    its config records (a relative reference is relative to the checkpoint).
    """
    p = Path(path)
    if (p / "vqvae" / "config.json").is_file():
        return p / "vqvae"
    if (p / "config.json").is_file():
        try:
            info = json.loads((p / "config.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{p / 'config.json'} is corrupt: it is not valid JSON.") from exc
        except OSError as exc:
            raise CheckpointError(
                f"{p / 'config.json'} cannot be read ({exc.strerror or exc})."
            ) from exc
        if not isinstance(info, dict):
            raise CheckpointError(f"{p / 'config.json'} does not describe a latentmusic model.")
        if info.get("family") == "jukebox" and info.get("model_type") == "vqvae":
            return p
        if info.get("family") == "jukebox" and info.get("vqvae"):
            sibling = p.parent / "vqvae"
            if (sibling / "config.json").is_file() and sibling.resolve() != p.resolve():
                return sibling
            reference = info["vqvae"]
            if not isinstance(reference, str):
                raise CheckpointError(f"{p / 'config.json'} is corrupt: 'vqvae' is not a path.")
            target = Path(reference)
            if not target.is_absolute():  # written by this version: relative to the prior
                target = p / target
            key = p.resolve()
            if key in _seen or target.resolve() == key:
                raise CheckpointError(
                    f"{p} names itself (or a checkpoint naming it) as its VQ-VAE; "
                    f"put the VQ-VAE in {sibling}."
                )
            if not target.exists():
                raise CheckpointError(
                    f"{p} was trained with the VQ-VAE {reference}, which is not there "
                    f"({target} does not exist); put that VQ-VAE in {sibling}."
                )
            return resolve_vqvae(target, _seen | {key})
        raise CheckpointError(
            f"{p} is a '{info.get('family')}/{info.get('model_type')}' checkpoint, "
            "not a Jukebox VQ-VAE (or a run directory with vqvae/)."
        )
    if not p.exists():
        raise CheckpointError(f"Model {p} does not exist.")
    raise CheckpointError(
        f"{p} is neither a Jukebox VQ-VAE checkpoint nor a run directory with vqvae/."
    )


def vqvae_reference(vqvae: str | Path, checkpoint: str | Path) -> str:
    """How a prior or upsampler saved in ``checkpoint`` names its VQ-VAE ``vqvae``: a path
    relative to the checkpoint's folder (``../vqvae`` in a run), so a copied or moved run
    keeps pointing at its own files; absolute only where no relative path exists (another
    drive). :func:`resolve_vqvae` reads both, and the absolute ones older versions wrote."""
    import os

    target = Path(vqvae).resolve()
    try:
        return Path(os.path.relpath(target, Path(checkpoint).resolve())).as_posix()
    except ValueError:
        return str(target)


def load_vqvae(path: str | Path) -> Any:
    """Load the VQ-VAE of a checkpoint or run directory, in eval mode."""
    from latentmusic.train.checkpoint import read_checkpoint

    from . import from_checkpoint

    model = from_checkpoint(read_checkpoint(resolve_vqvae(path), family="jukebox"))
    return model.eval()


# --------------------------------------------------------------------- chunked encode/decode
@torch.no_grad()
def encode_audio(vqvae: Any, audio: np.ndarray, chunk_seconds: float = 20.0) -> list[np.ndarray]:
    """Mono audio at the VQ-VAE's rate -> codes of every level (long files in chunks).

    Chunks overlap by a margin of context on both sides, and only the codes of each
    chunk's own span are kept, so chunk boundaries do not show in the codes.
    """
    top = vqvae.hops[-1]
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    n = x.shape[-1] + (-x.shape[-1]) % top
    x = torch.nn.functional.pad(x, (0, n - x.shape[-1]))
    chunk = max(top, int(chunk_seconds * vqvae.sample_rate) // top * top)
    margin = 16 * top
    pieces: list[list[torch.Tensor]] = [[] for _ in vqvae.hops]
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        a, b = max(0, s - margin), min(n, e + margin)
        codes = vqvae.encode(x[None, a:b])
        for level, hop in enumerate(vqvae.hops):
            pieces[level].append(codes[level][0, (s - a) // hop : (e - a) // hop])
    return [torch.cat(p).numpy() for p in pieces]


@torch.no_grad()
def decode_codes(
    vqvae: Any, codes: np.ndarray | torch.Tensor, level: int, chunk_tokens: int = 4096
) -> np.ndarray:
    """(T,) or (B, T) codes of ``level`` -> audio (n,) / (B, n), decoded in overlapping chunks."""
    z = torch.as_tensor(np.asarray(codes), dtype=torch.long)
    single = z.dim() == 1
    if single:
        z = z[None]
    if z.numel() and (int(z.min()) < 0 or int(z.max()) >= vqvae.cfg.codes):
        raise InputError(f"Codes must lie in 0..{vqvae.cfg.codes - 1} for this VQ-VAE.")
    hop = vqvae.hops[level]
    t = z.shape[1]
    margin = 64
    out = []
    for s in range(0, t, chunk_tokens):
        e = min(t, s + chunk_tokens)
        a, b = max(0, s - margin), min(t, e + margin)
        audio = vqvae.decode(z[:, a:b], level)
        out.append(audio[:, (s - a) * hop : (e - a) * hop])
    audio = torch.cat(out, dim=1).numpy() if out else np.zeros((z.shape[0], 0), np.float32)
    return audio[0] if single else audio


# ------------------------------------------------------------------------------ npz files
@dataclass
class CodeFile:
    """Codes of every level of one piece of audio."""

    levels: list[np.ndarray]
    sample_rate: int
    n_samples: int
    hops: tuple[int, ...]
    vqvae: str = ""
    source: str = ""  # fingerprint of the VQ-VAE and the audio it came from (the cache key)


def save_codes(path: str | Path, codes: CodeFile) -> Path:
    """Write ``z0, z1, ...`` and the metadata to an ``.npz`` atomically."""
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_suffix(".npz")
    arrays: dict[str, np.ndarray] = {
        f"z{level}": np.asarray(
            z, dtype=np.int16 if int(np.max(z, initial=0)) < 32768 else np.int32
        )
        for level, z in enumerate(codes.levels)
    }
    arrays["sample_rate"] = np.array(codes.sample_rate)
    arrays["n_samples"] = np.array(codes.n_samples)
    arrays["hops"] = np.array(codes.hops)
    arrays["vqvae"] = np.array(codes.vqvae)
    arrays["source"] = np.array(codes.source)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return target


def load_codes(path: str | Path) -> CodeFile:
    """Read a codes ``.npz`` (InputError when missing or not one of ours)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"Codes file {p} does not exist.")
    try:
        with np.load(p, allow_pickle=False) as data:
            levels = []
            while f"z{len(levels)}" in data:
                levels.append(data[f"z{len(levels)}"].astype(np.int64))
            if not levels:
                raise InputError(f"{p} holds no codes (expected arrays z0, z1, ...).")
            return CodeFile(
                levels=levels,
                sample_rate=int(data["sample_rate"]),
                n_samples=int(data["n_samples"]),
                hops=tuple(int(h) for h in data["hops"]),
                vqvae=str(data["vqvae"]) if "vqvae" in data else "",
                source=str(data["source"]) if "source" in data else "",
            )
    except InputError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{p} is not a Jukebox codes file ({exc}).") from exc


def encode_file(
    vqvae: Any,
    path: str | Path,
    vqvae_path: str = "",
    max_seconds: float | None = None,
    source: str = "",
) -> CodeFile:
    """Load an audio file (its first ``max_seconds``) at the VQ-VAE's rate; encode every level."""
    from latentmusic.audio.io import load

    audio, sr = load(path, sr=vqvae.sample_rate, duration=max_seconds)
    return CodeFile(
        encode_audio(vqvae, audio),
        sr,
        int(audio.shape[-1]),
        tuple(vqvae.hops),
        vqvae_path,
        source,
    )


def weights_fingerprint(checkpoint: Path) -> str:
    """A short hash of a checkpoint's weights file: codes made with other weights are stale."""
    import hashlib

    digest = hashlib.sha1()
    with open(checkpoint / "model.safetensors", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def source_fingerprint(weights: str, audio: Path, max_seconds: float | None) -> str:
    """The cache key of one file's codes: VQ-VAE weights, audio size and mtime, length cap."""
    stat = audio.stat()
    cap = "all" if max_seconds is None else f"{max_seconds:g}"
    return f"{weights}:{stat.st_size}:{stat.st_mtime_ns}:{cap}"


def _cached(path: Path, source: str) -> CodeFile | None:
    """The codes already at ``path`` when they were made from ``source``, else None."""
    if not path.is_file():
        return None
    try:
        codes = load_codes(path)
    except InputError:
        return None
    return codes if codes.source == source else None


# ---------------------------------------------------------------------------- data sets
@dataclass
class LabeledFile:
    """One audio file of a data set with its conditioning labels."""

    path: Path
    relpath: str
    genre: str
    artist: str
    split: str
    lyrics: str = ""
    piece: str = ""


def read_manifest(root: Path) -> dict[str, Any]:
    """``root/manifest.json`` as a dict ({} when absent); InputError when it is not JSON."""
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON.") from exc
    return data if isinstance(data, dict) else {}


def artist_of(piece: str, entry: dict[str, Any] | None = None) -> str:
    """The artist label of a piece: the manifest's word, else its collection or composer.

    An entry's ``artist`` / ``composer`` / ``collection`` wins; else the first folder of
    the piece id ("essenFolksong/han1:3" -> "essenFolksong", a user's
    ``ROOT/<genre>/<artist>/song.wav`` -> "<artist>"); Bach chorales ("bwv...") -> "bach";
    anything else -> "unknown".
    """
    entry = entry or {}
    for key in ("artist", "composer", "collection"):
        if entry.get(key):
            return str(entry[key])
    if "/" in piece:
        return piece.split("/", 1)[0]
    if piece.lower().startswith("bwv"):
        return "bach"
    return "unknown"


def dataset_files(data: str | Path, *, lyrics: bool = True) -> list[LabeledFile]:
    """Every audio file of a domains data set (or a user's folders) with its labels.

    genre = the domain (top-level folder) unless a manifest entry says ``genre``; artist
    from :func:`artist_of`; lyrics = the entry's ``lyrics``, a ``song.txt`` beside
    ``song.wav``, or (``lyrics=True``) the chorale's text from music21's corpus.
    """
    from latentmusic.data.domains import DomainAudioSet

    root = Path(data)
    if not root.is_dir():
        raise InputError(f"Data directory {root} does not exist.")
    manifest = read_manifest(root)
    entries: dict[str, dict[str, Any]] = {}
    for entry in manifest.get("files", []) if isinstance(manifest.get("files"), list) else []:
        if isinstance(entry, dict) and "path" in entry:
            entries[Path(entry["path"]).as_posix()] = entry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "only one domain" matters for translation, not here
        ds = DomainAudioSet(root)
    out: list[LabeledFile] = []
    for e in sorted(ds.entries, key=lambda e: e.path):
        rel = e.path.relative_to(root).as_posix() if e.path.is_relative_to(root) else e.path.name
        entry = entries.get(rel, {})
        text = str(entry.get("lyrics") or "")
        sidecar = e.path.with_suffix(".txt")
        if not text and sidecar.is_file():
            text = sidecar.read_text(errors="replace")
        genre = str(entry.get("genre") or e.domain)
        out.append(
            LabeledFile(e.path, rel, genre, artist_of(e.piece, entry), e.split, text, e.piece)
        )
    if lyrics:
        missing = [f for f in out if not f.lyrics and f.piece.lower().startswith("bwv")]
        if missing:
            from latentmusic.jukebox.labels import chorale_lyrics

            found = chorale_lyrics(sorted({f.piece for f in missing}))
            for f in missing:
                f.lyrics = found.get(f.piece, "")
    if not out:
        raise InputError(f"No audio files found in {root}.")
    return out


def encode_dataset(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    lyrics: bool = True,
    progress: bool = True,
    max_seconds: float | None = None,
) -> Path:
    """Encode every file of ``data`` with the VQ-VAE of ``model`` into ``out`` (see module doc).

    ``max_seconds`` encodes only the opening of each file (a quick corpus for the priors).
    Files whose codes in ``out`` were made from the same weights and audio are not encoded
    again.
    """
    if max_seconds is not None and not max_seconds > 0:
        raise InputError(f"max_seconds must be positive, not {max_seconds}.")
    vq_path = resolve_vqvae(model).resolve()
    vqvae = load_vqvae(vq_path)
    weights = weights_fingerprint(vq_path)
    files = dataset_files(data, lyrics=lyrics)
    out = ensure_writable_dir(out)
    records = []
    reused = 0
    skipped: list[dict[str, str]] = []
    with progress_bar(len(files), "encoding", "file", progress, leave=True) as bar:
        for f in files:
            rel = Path(f.split) / Path(f.relpath).with_suffix(".npz")
            try:
                source = source_fingerprint(weights, f.path, max_seconds)
                codes = _cached(out / rel, source)
                if codes is not None:
                    reused += 1
                else:
                    codes = encode_file(vqvae, f.path, str(vq_path), max_seconds, source)
                    save_codes(out / rel, codes)
            except (InputError, OSError) as exc:  # one bad file does not cost the others
                reason = str(exc) if isinstance(exc, InputError) else f"{f.path}: {exc.strerror}"
                skipped.append({"audio": str(f.path), "reason": reason})
                warnings.warn(f"skipped: {reason}", LatentMusicWarning, stacklevel=2)
                bar.update(1)
                continue
            records.append(
                {
                    "codes": rel.as_posix(),
                    "audio": str(f.path.resolve()),
                    "artist": f.artist,
                    "genre": f.genre,
                    "split": f.split,
                    "piece": f.piece,
                    "n_samples": codes.n_samples,
                    "lyrics": f.lyrics,
                }
            )
            bar.update(1)
    if not records:
        raise InputError(
            f"None of the {len(files)} audio files in {data} could be encoded "
            f"(first: {skipped[0]['reason']})."
        )
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} of {len(files)} audio files in {data} (above; listed in "
            f"{MANIFEST}); encoded the other {len(records)}.",
            LatentMusicWarning,
            stacklevel=2,
        )
    write_json(
        out / MANIFEST,
        {
            "format": CODES_FORMAT,
            "vqvae": str(vq_path),
            "data": str(Path(data).resolve()),
            "sample_rate": vqvae.sample_rate,
            "hops": list(vqvae.hops),
            "codes": vqvae.cfg.codes,
            "max_seconds": max_seconds,
            "reused": reused,
            "artists": sorted({r["artist"] for r in records}),
            "genres": sorted({r["genre"] for r in records}),
            "files": records,
            "skipped": skipped,
        },
    )
    return out


def read_codes_manifest(codes_dir: str | Path) -> dict[str, Any]:
    """The manifest of a codes directory, or an InputError saying how to make one."""
    root = Path(codes_dir)
    data = read_manifest(root) if root.is_dir() else {}
    if data.get("format") != CODES_FORMAT:
        raise InputError(
            f"{root} is not a Jukebox codes directory; make one with "
            "`latentmusic jukebox encode-dataset --model VQVAE --data DATA -o CODES`."
        )
    return data


# --------------------------------------------------------------------------- file verbs
def encode_to_file(model: str | Path, audio: str | Path, out: str | Path) -> CodeFile:
    """``latentmusic jukebox encode``: an audio file -> codes of every level in ``out`` (.npz)."""
    vq_path = resolve_vqvae(model).resolve()
    codes = encode_file(load_vqvae(vq_path), audio, str(vq_path))
    save_codes(out, codes)
    return codes


def decode_to_file(
    model: str | Path, codes_path: str | Path, out: str | Path, level: int | None = None
) -> np.ndarray:
    """``latentmusic jukebox decode``: one level of a codes file -> audio (lowest level by default)."""
    from latentmusic.audio.io import save

    vqvae = load_vqvae(model)
    codes = load_codes(codes_path)
    if level is None:
        level = 0
    if not 0 <= level < len(codes.levels):
        raise InputError(
            f"{codes_path} has levels 0..{len(codes.levels) - 1}; --level {level} is not one."
        )
    if tuple(codes.hops) != tuple(vqvae.hops):
        raise InputError(
            f"{codes_path} was made by a VQ-VAE with hops {list(codes.hops)}, "
            f"this one has {list(vqvae.hops)}."
        )
    audio = decode_codes(vqvae, codes.levels[level], level)[: codes.n_samples]
    save(out, audio, vqvae.sample_rate)
    return audio
