"""``latentmusic nsynth ...``: encode, decode, reconstruct, interpolate, grid, rainbowgram.

Every command takes a trained NSynth run (``--model RUN``: the WaveNet autoencoder or the
spectral baseline) and WAV/.npy/.png files; audio at another sample rate is resampled
with a note. Training and evaluation are ``latentmusic train nsynth`` / ``eval nsynth``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from latentmusic.cli.model_option import model_option

app = typer.Typer(
    help="NSynth: WaveNet autoencoder for notes -- timbre embeddings, morphs, the NSynth Super pad.",
    no_args_is_help=True,
)

ModelOpt = Annotated[Path, model_option("Trained NSynth run (checkpoint directory).")]
TempOpt = Annotated[
    float, typer.Option(help="Sampling temperature of the WaveNet decoder (0 = greedy).")
]
SeedOpt = Annotated[
    int | None, typer.Option(help="Random seed for sampling (same seed, same output).")
]
BackendOpt = Annotated[str, typer.Option(help="Decoder backend: auto, torch or fused.")]


def _decode_kwargs(temperature: float, seed: int | None, backend: str) -> dict:
    from latentmusic.nsynth.verbs import decode_options

    return {**decode_options(temperature, seed, backend), "progress": True}


@app.command()
def encode(
    audio: Annotated[Path, typer.Argument(help="Input audio file.")],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output embedding (.npy, frames x 16).")],
) -> None:
    """Encode a sound into its timbre embedding (16 numbers every 32 ms)."""
    from latentmusic.nsynth.verbs import encode_file, load_model

    z = encode_file(load_model(model), audio, out)
    typer.echo(f"Embedding {z.shape[0]}x{z.shape[1]} written to {out}")


@app.command()
def decode(
    embedding: Annotated[Path, typer.Argument(help="Embedding (.npy, frames x 16).")],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output audio file.")],
    temperature: TempOpt = 1.0,
    seed: SeedOpt = 0,
    backend: BackendOpt = "auto",
) -> None:
    """Synthesize audio from an embedding."""
    from latentmusic.nsynth.verbs import decode_file, load_model

    audio = decode_file(
        load_model(model), embedding, out, **_decode_kwargs(temperature, seed, backend)
    )
    typer.echo(f"{audio.shape[-1]} samples written to {out}")


@app.command()
def reconstruct(
    audio: Annotated[Path, typer.Argument(help="Input audio file.")],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output audio file.")],
    temperature: TempOpt = 1.0,
    seed: SeedOpt = 0,
    backend: BackendOpt = "auto",
) -> None:
    """Encode then decode a sound: hear what the autoencoder keeps."""
    from latentmusic.nsynth.verbs import load_model, reconstruct_file

    recon = reconstruct_file(
        load_model(model), audio, out, **_decode_kwargs(temperature, seed, backend)
    )
    typer.echo(f"{recon.shape[-1]} samples written to {out}")


@app.command()
def interpolate(
    a: Annotated[Path, typer.Argument(help="First sound.")],
    b: Annotated[Path, typer.Argument(help="Second sound.")],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    steps: Annotated[int, typer.Option(help="Number of steps including both ends.")] = 5,
    method: Annotated[str, typer.Option(help="lerp (NSynth's) or slerp.")] = "lerp",
    rainbowgrams: Annotated[
        bool, typer.Option(help="Also write a rainbowgram PNG per step.")
    ] = True,
    temperature: TempOpt = 1.0,
    seed: SeedOpt = 0,
    backend: BackendOpt = "auto",
) -> None:
    """Morph A -> B in latent space (latent_i.wav) next to the audio cross-fade (crossfade_i.wav)."""
    from latentmusic.errors import InputError
    from latentmusic.nsynth.verbs import interpolate_files, load_model

    if method not in ("lerp", "slerp"):
        raise InputError(f"Unknown interpolation method '{method}'; use lerp or slerp.")
    written = interpolate_files(
        load_model(model),
        a,
        b,
        out,
        steps=steps,
        method=method,  # type: ignore[arg-type]
        rainbowgrams=rainbowgrams,
        **_decode_kwargs(temperature, seed, backend),
    )
    typer.echo(
        f"{len(written['latent'])} latent and {len(written['crossfade'])} cross-fade steps written to {out}"
    )


@app.command()
def grid(
    sounds: Annotated[
        list[Path],
        typer.Argument(help="Four corner sounds: top-left top-right bottom-left bottom-right."),
    ],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output audio file.")],
    x: Annotated[float, typer.Option(help="Pad position left (0) to right (1).")] = 0.5,
    y: Annotated[float, typer.Option(help="Pad position top (0) to bottom (1).")] = 0.5,
    temperature: TempOpt = 1.0,
    seed: SeedOpt = 0,
    backend: BackendOpt = "auto",
) -> None:
    """The NSynth Super pad: blend four sounds bilinearly in latent space at (x, y)."""
    from latentmusic.nsynth.verbs import grid_file, load_model

    audio = grid_file(
        load_model(model), sounds, x, y, out, **_decode_kwargs(temperature, seed, backend)
    )
    typer.echo(f"{audio.shape[-1]} samples written to {out}")


@app.command()
def rainbowgram(
    audio: Annotated[Path, typer.Argument(help="Input audio file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG.")],
    sample_rate: Annotated[int | None, typer.Option(help="Resample to this rate first.")] = None,
) -> None:
    """Draw NSynth's rainbowgram (CQT; brightness = loudness, colour = instantaneous frequency)."""
    from latentmusic.nsynth.verbs import rainbowgram_file

    rainbowgram_file(audio, out, sample_rate)
    typer.echo(f"Rainbowgram written to {out}")
