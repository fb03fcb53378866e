"""``latentmusic nsynth ...``: encode, decode, reconstruct, interpolate, grid, rainbowgram.

Every command takes a trained NSynth run (``--model RUN``: the WaveNet autoencoder or the
spectral baseline) and WAV/.npy/.png files; audio at another sample rate is resampled
with a note. Training and evaluation are ``latentmusic train nsynth`` / ``eval nsynth``.
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
    help="NSynth: WaveNet autoencoder for notes -- timbre embeddings, morphs, the NSynth Super pad.",
    no_args_is_help=True,
)

ModelOpt = Annotated[
    Path, model_option("Trained NSynth run (checkpoint directory).", family="nsynth")
]
TempOpt = Annotated[
    float,
    typer.Option(
        help="Sampling temperature of the WaveNet decoder (0 = greedy).", callback=v.temperature
    ),
]
SeedOpt = opt.GenerationSeed
BackendOpt = Annotated[
    str,
    typer.Option(
        help="Decoder backend: auto, torch or fused.",
        callback=v.choice(
            "auto",
            "torch",
            "fused",
            message="Unknown decoding backend '{value}'; use auto, torch or fused.",
        ),
    ),
]


def _audio_out(out: Path) -> None:
    """Checked before the model loads: decoding takes long, a bad name must not wait for it."""
    v.output_file(out, AUDIO_SUFFIXES, "output audio file")


PitchOpt = Annotated[
    float | None,
    typer.Option(
        help="Harmonic model: MIDI pitch to play at (60 = middle C); default: the input "
        "sound's (the first sound's for interpolate and grid), estimated. Required by decode."
    ),
]


def _decode_kwargs(
    temperature: float, seed: int | None, backend: str, pitch: float | None = None
) -> dict:
    from latentmusic.nsynth.verbs import decode_options

    return {**decode_options(temperature, seed, backend, pitch), "progress": True}


def _check_embedding(path: Path) -> None:
    """A (frames, channels) array of finite numbers, checked before the model loads."""
    import numpy as np

    from latentmusic.errors import InputError

    v.input_file(path, "Embedding file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path} is not a NumPy .npy embedding.") from exc
    array = v.numeric_array(array, path, "an embedding (frames x channels)")
    if array.ndim != 2:
        raise InputError(
            f"{path} holds an array of shape {array.shape}; an embedding is frames x channels."
        )


@app.command()
def encode(
    audio: Annotated[Path, typer.Argument(help="Input audio file.")],
    model: ModelOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output embedding (.npy, frames x the model's embedding size, 16 for most).",
        ),
    ],
    pitch: Annotated[
        float | None,
        typer.Option(
            help="The sound's own MIDI pitch, for an encoder that measures the sound at it "
            "(nsynth-harmonic); default: estimated from the sound."
        ),
    ] = None,
) -> None:
    """Encode a sound into its timbre embedding (16 numbers every 32 ms, plus any measured levels the model carries)."""
    v.input_file(audio, "Audio file")
    v.output_file(out, (".npy",), "output embedding")
    from latentmusic.nsynth.verbs import encode_file, load_model

    z = encode_file(load_model(model), audio, out, pitch)
    typer.echo(f"Embedding {z.shape[0]}x{z.shape[1]} written to {out}")


@app.command()
def decode(
    embedding: Annotated[
        Path,
        typer.Argument(
            help="Embedding (.npy, frames x the model's embedding size, as written by encode).",
        ),
    ],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output audio file.")],
    temperature: TempOpt = 1.0,
    seed: SeedOpt = 0,
    backend: BackendOpt = "auto",
    pitch: PitchOpt = None,
) -> None:
    """Synthesize audio from an embedding."""
    _check_embedding(embedding)
    _audio_out(out)
    from latentmusic.nsynth.verbs import decode_file, load_model

    audio = decode_file(
        load_model(model), embedding, out, **_decode_kwargs(temperature, seed, backend, pitch)
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
    pitch: PitchOpt = None,
) -> None:
    """Encode then decode a sound: hear what the autoencoder keeps."""
    v.input_file(audio, "Audio file")
    _audio_out(out)
    from latentmusic.nsynth.verbs import load_model, reconstruct_file

    recon = reconstruct_file(
        load_model(model), audio, out, **_decode_kwargs(temperature, seed, backend, pitch)
    )
    typer.echo(f"{recon.shape[-1]} samples written to {out}")


@app.command()
def interpolate(
    a: Annotated[Path, typer.Argument(help="First sound.")],
    b: Annotated[Path, typer.Argument(help="Second sound.")],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    steps: Annotated[
        int,
        typer.Option(
            help="Number of steps including both ends.",
            callback=v.int_range(2, v.MAX_INTERPOLATION_STEPS),
        ),
    ] = 5,
    method: Annotated[
        str,
        typer.Option(
            help="lerp (NSynth's) or slerp.",
            callback=v.choice(
                "lerp",
                "slerp",
                message="Unknown interpolation method '{value}'; use lerp or slerp.",
            ),
        ),
    ] = "lerp",
    rainbowgrams: Annotated[
        bool, typer.Option(help="Also write a rainbowgram PNG per step.")
    ] = True,
    temperature: TempOpt = 1.0,
    seed: SeedOpt = 0,
    backend: BackendOpt = "auto",
    pitch: PitchOpt = None,
) -> None:
    """Morph A -> B in latent space (latent_i.wav) next to the audio cross-fade (crossfade_i.wav)."""
    v.input_file(a, "Audio file")
    v.input_file(b, "Audio file")
    v.output_dir(out)
    from latentmusic.nsynth.verbs import interpolate_files, load_model

    with v.removed_on_failure(out):
        written = interpolate_files(
            load_model(model),
            a,
            b,
            out,
            steps=steps,
            method=method,  # type: ignore[arg-type]
            rainbowgrams=rainbowgrams,
            **_decode_kwargs(temperature, seed, backend, pitch),
        )
    typer.echo(
        f"{len(written['latent'])} latent and {len(written['crossfade'])} cross-fade steps written to {out}"
    )


CornersArg = Annotated[
    list[Path],
    typer.Argument(help="Four corner sounds: top-left top-right bottom-left bottom-right."),
]


def _check_corners(command: str, sounds: list[Path]) -> None:
    """Four readable audio files, checked before the model loads."""
    from latentmusic.errors import InputError

    if len(sounds) != 4:
        raise InputError(
            f"{command} needs exactly 4 sounds (top-left, top-right, bottom-left, bottom-right), "
            f"got {len(sounds)}."
        )
    for sound in sounds:
        v.input_file(sound, "Audio file")


@app.command()
def grid(
    sounds: CornersArg,
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output audio file.")],
    x: Annotated[
        float,
        typer.Option(help="Pad position left (0) to right (1).", callback=v.float_range(0.0, 1.0)),
    ] = 0.5,
    y: Annotated[
        float,
        typer.Option(help="Pad position top (0) to bottom (1).", callback=v.float_range(0.0, 1.0)),
    ] = 0.5,
    temperature: TempOpt = 1.0,
    seed: SeedOpt = 0,
    backend: BackendOpt = "auto",
    pitch: PitchOpt = None,
) -> None:
    """The NSynth Super pad: blend four sounds bilinearly in latent space at (x, y)."""
    _check_corners("grid", sounds)
    _audio_out(out)
    from latentmusic.nsynth.verbs import grid_file, load_model

    audio = grid_file(
        load_model(model), sounds, x, y, out, **_decode_kwargs(temperature, seed, backend, pitch)
    )
    typer.echo(f"{audio.shape[-1]} samples written to {out}")


@app.command()
def pad(
    sounds: CornersArg,
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="New output folder for the pad.")],
    size: Annotated[
        int,
        typer.Option(help="Positions per side (size x size blends).", callback=v.int_range(2, 9)),
    ] = 3,
    pitches: Annotated[
        str | None,
        typer.Option(
            help="Harmonic model: MIDI pitches to render the pad at, comma-separated "
            "(e.g. 48,60,72); default: the corners' own pitch."
        ),
    ] = None,
    temperature: TempOpt = 1.0,
    seed: SeedOpt = 0,
    backend: BackendOpt = "auto",
) -> None:
    """Render a whole NSynth Super pad once (size x size blends of four sounds, at a few
    pitches) into a folder of WAVs with a pad.json index: play any position instantly."""
    from latentmusic.errors import InputError

    _check_corners("pad", sounds)
    notes: list[float] = []
    for part in (pitches or "").split(","):
        if part.strip():
            try:
                notes.append(float(part))
            except ValueError:
                raise InputError(
                    f"--pitches takes MIDI note numbers separated by commas, not '{pitches}'."
                ) from None
    from latentmusic.fileio import check_new_dir

    check_new_dir(out)
    from latentmusic.nsynth.verbs import decode_options, load_model, pad_files

    for note in notes:
        decode_options(pitch=note)  # the same range check as --pitch, before the model loads
    index = pad_files(
        load_model(model), sounds, out, size, notes, **_decode_kwargs(temperature, seed, backend)
    )
    count = sum(len(layer["files"]) for layer in index["layers"].values())
    typer.echo(f"Pad of {size} x {size} at {len(index['layers'])} pitch(es): {count} WAVs in {out}")


@app.command()
def rainbowgram(
    audio: Annotated[Path, typer.Argument(help="Input audio file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG.")],
    sample_rate: Annotated[
        int | None,
        typer.Option(help="Resample to this rate first.", callback=v.int_range(1000, 384_000)),
    ] = None,
) -> None:
    """Draw NSynth's rainbowgram (CQT; brightness = loudness, colour = instantaneous frequency)."""
    v.input_file(audio, "Audio file")
    v.output_file(out, (".png",), "output image")
    from latentmusic.nsynth.verbs import rainbowgram_file

    rainbowgram_file(audio, out, sample_rate)
    typer.echo(f"Rainbowgram written to {out}")
