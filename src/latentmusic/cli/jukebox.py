"""``latentmusic jukebox ...``: encode audio to codes, decode codes, encode a data set, sample.

``--model`` is a Jukebox run directory (``RUN/vqvae``, ``RUN/prior``, ``RUN/upsampler_1``,
``RUN/upsampler_0``) or a single checkpoint inside it. Training is
``latentmusic train jukebox --model vqvae|prior|upsampler``; evaluation is
``latentmusic eval jukebox``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from latentmusic.audio.formats import AUDIO_SUFFIXES
from latentmusic.cli import train_options as opt
from latentmusic.cli import validate as v
from latentmusic.cli.model_option import model_option

app = typer.Typer(
    help="Jukebox: hierarchical VQ-VAE codes and conditioned transformer priors -- encode, decode, sample.",
    no_args_is_help=True,
)

ModelOpt = Annotated[
    Path,
    model_option("Jukebox run directory (vqvae/, prior/, ...) or checkpoint.", family="jukebox"),
]
MAX_BATCH = 64


def _prior_config(model: Path) -> dict | None:
    """The top prior's hyperparameters, read from its config.json alone (no weights); None
    when the run has no readable prior there (loading then says what is wrong)."""
    import json

    for candidate in (model, model / "prior"):
        try:
            config = json.loads((candidate / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(config, dict) or config.get("model_type") != "prior":
            continue
        inner = config.get("config")
        return inner if isinstance(inner, dict) else None
    return None


def _check_sample_request(model: Path, seconds: float, lyrics: str) -> None:
    """What the prior cannot do is refused before it loads: a piece longer than its timing
    embedding covers (its max_seconds), lyrics for a prior trained without them."""
    from latentmusic.errors import InputError

    config = _prior_config(model)
    if config is None:
        return
    limit = config.get("max_seconds")
    if isinstance(limit, (int, float)) and not isinstance(limit, bool) and 0 < limit < seconds:
        raise InputError(
            f"--seconds {seconds:g} is longer than this prior was built for ({limit:g} s, "
            "its max_seconds); ask for at most that."
        )
    if lyrics and config.get("lyrics") is not True:
        raise InputError(
            "--lyrics needs a prior trained with lyrics=true; this one ignores lyrics."
        )


@app.command()
def encode(
    audio: Annotated[Path, typer.Argument(help="Input audio file.")],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output codes (.npz with z0, z1, z2).")],
) -> None:
    """Encode audio into VQ-VAE codes at every level (hops 8, 32, 128)."""
    v.input_file(audio, "Audio file")
    v.output_file(out, (".npz",), "output codes file")
    from latentmusic.jukebox.codes import encode_to_file

    codes = encode_to_file(model, audio, out)
    sizes = ", ".join(f"level {i}: {len(z)}" for i, z in enumerate(codes.levels))
    typer.echo(f"Codes ({sizes} tokens) written to {out}")


@app.command()
def decode(
    codes: Annotated[Path, typer.Argument(help="Codes file (.npz from `jukebox encode`).")],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output audio file.")],
    level: Annotated[
        int,
        typer.Option(
            help="Which level to decode: 0 (finest, hop 8) .. 2 (hop 128).",
            callback=v.int_range(0, 16),
        ),
    ] = 0,
) -> None:
    """Decode one level's codes back to audio with that level's own decoder."""
    v.npz_file(codes, "Codes file")
    v.output_file(out, AUDIO_SUFFIXES, "output audio file")
    from latentmusic.jukebox.codes import decode_to_file

    audio = decode_to_file(model, codes, out, level)
    typer.echo(f"{audio.shape[-1]} samples written to {out}")


@app.command("encode-dataset")
def encode_dataset(
    model: ModelOpt,
    data: Annotated[
        Path,
        typer.Option(
            help="Audio data set (`latentmusic data domains` or folders).",
            callback=v.existing_dir,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Codes directory to write.")],
    lyrics: Annotated[
        bool, typer.Option(help="Look up Bach chorale lyrics in music21's corpus.")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            help="Encode only the first N seconds of each file.",
            callback=v.float_range(0.0, low_open=True),
        ),
    ] = None,
) -> None:
    """Encode a whole data set once, so prior and upsampler training read codes, not audio.

    Run it again into the same directory and only new or changed files are encoded."""
    v.output_dir(out, "codes directory")
    from latentmusic.jukebox.codes import encode_dataset as run

    with v.removed_on_failure(out):
        path = run(model, data, out, lyrics=lyrics, progress=progress, max_seconds=max_seconds)
    from latentmusic.jukebox.codes import read_codes_manifest

    manifest = read_codes_manifest(path)
    typer.echo(
        f"Codes of {len(manifest['files'])} files written to {path} "
        f"({manifest.get('reused', 0)} unchanged ones reused from an earlier run)."
    )


@app.command()
def sample(
    model: ModelOpt,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output audio file (batch items get -1, -2, ...).")
    ],
    seconds: Annotated[
        float,
        typer.Option(
            help="Length of the output in seconds (prime included; at most the prior's "
            "max_seconds).",
            callback=v.float_range(0.0, low_open=True),
        ),
    ] = 4.0,
    artist: Annotated[
        str | None, typer.Option(help="Artist label (one the model was trained with).")
    ] = None,
    genre: Annotated[
        str | None, typer.Option(help="Genre label (one the model was trained with).")
    ] = None,
    prime: Annotated[
        Path | None, typer.Option(help="Continue this audio instead of starting from silence.")
    ] = None,
    lyrics: Annotated[
        str, typer.Option(help="Lyrics (for a prior trained with lyrics=true).")
    ] = "",
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature (0 = greedy).", callback=v.temperature)
    ] = 1.0,
    seed: opt.GenerationSeed = 0,
    batch: Annotated[
        int,
        typer.Option(help="How many samples to draw at once.", callback=v.int_range(1, MAX_BATCH)),
    ] = 1,
    hop_fraction: Annotated[
        float,
        typer.Option(
            help="Window advance as a fraction of the context.",
            callback=v.float_range(0.0, 1.0, low_open=True),
        ),
    ] = 0.5,
    upsample: Annotated[
        bool, typer.Option(help="Run the upsamplers (else decode the top level).")
    ] = True,
    progress: Annotated[
        bool, typer.Option(help="Show a progress bar per level with the time left.")
    ] = True,
) -> None:
    """Generate music: top prior, then upsamplers, then the VQ-VAE decoder (windowed, primed)."""
    v.output_file(out, AUDIO_SUFFIXES, "output audio file")
    if prime is not None:
        v.input_file(prime, "Prime audio file")
    _check_sample_request(model, seconds, lyrics)
    from latentmusic.jukebox.sampling import sample_to_file

    paths, result = sample_to_file(
        model,
        out,
        seconds,
        artist=artist,
        genre=genre,
        lyrics=lyrics,
        prime=prime,
        temperature=temperature,
        seed=seed,
        batch=batch,
        hop_fraction=hop_fraction,
        upsample=upsample,
        progress=progress,
    )
    levels = ", ".join(
        f"level {k}: {v.shape[1]}" for k, v in sorted(result.codes.items(), reverse=True)
    )
    typer.echo(f"Sampled codes ({levels}); decoded level {result.decoded_level}.")
    for path in paths:
        typer.echo(f"Wrote {path}")
