"""``latentmusic musicvae ...``: the magenta-js verbs on MIDI files, MIDI (and WAV) out.

Every command takes ``--model RUN`` (a MusicVAE checkpoint directory) and writes MIDI with
tempo, meter and named instrument tracks, ready for a DAW; ``--wav`` also renders each MIDI
with FluidSynth. Several results go into one MIDI file one after the other; ``--each`` also
writes one file per result (``out-01.mid``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from latentmusic.cli import train_options as opt
from latentmusic.cli import validate as v
from latentmusic.cli.model_option import model_option

app = typer.Typer(
    help="MusicVAE: sample, interpolate, vary and edit melodies, drum loops and trios (MIDI in, MIDI out).",
    no_args_is_help=True,
)

ModelOpt = Annotated[
    Path, model_option("MusicVAE checkpoint directory (a training run).", family="musicvae")
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output MIDI file (.mid).")]
TempOpt = Annotated[
    float,
    typer.Option(help="Sampling temperature; 0 decodes greedily.", callback=v.temperature),
]
SeedOpt = opt.GenerationSeed
EachOpt = Annotated[bool, typer.Option("--each", help="Also write one MIDI file per result.")]
GapOpt = Annotated[
    int,
    typer.Option(
        help="Bars of silence between results in the MIDI file.",
        callback=v.int_range(0, v.MAX_GAP_BARS),
    ),
]
QpmOpt = Annotated[
    float,
    typer.Option(
        help=f"Tempo of the output in quarter notes per minute ({v.MIN_QPM:g} to {v.MAX_QPM:g}).",
        callback=v.qpm,
    ),
]
CountOpt = Annotated[
    int,
    typer.Option("-n", "--n", help="How many results.", callback=v.int_range(1, v.MAX_SAMPLES)),
]
WavOpt = Annotated[
    bool, typer.Option("--wav", help="Also render every MIDI written to WAV with FluidSynth.")
]
FontOpt = Annotated[
    Path | None, typer.Option(help="SoundFont for --wav (default: the one pretty_midi ships).")
]
StartOpt = Annotated[
    int | None,
    typer.Option(
        help="Bar (0-based) of the input to start reading at; default: the first bar with notes.",
        callback=v.int_range(0, 1_000_000),
    ),
]


def _load(model: Path):  # noqa: ANN202
    from latentmusic.musicvae.model import load_model

    return load_model(model)


def _write(seqs, out: Path, each: bool, gap_bars: int, wav: bool, soundfont: Path | None) -> None:  # noqa: ANN001
    from latentmusic.musicvae.files import write_outputs

    width = max(2, len(str(len(seqs))))
    mids = [out] + (
        [out.with_name(f"{out.stem}-{i + 1:0{width}d}{out.suffix}") for i in range(len(seqs))]
        if each
        else []
    )
    targets = mids + ([m.with_suffix(".wav") for m in mids] if wav else [])
    with v.files_removed_on_failure(targets):  # e.g. a bad SoundFont: no .mid left behind
        written = write_outputs(
            seqs, out, each=each, gap_bars=gap_bars, wav=wav, soundfont=soundfont
        )
    for path in written:
        typer.echo(f"wrote {path}")


def _check_out(out: Path, wav: bool = False, soundfont: Path | None = None) -> None:
    """Outputs and the SoundFont, checked before the model loads."""
    from latentmusic.errors import InputError

    if out.suffix.lower() not in (".mid", ".midi"):
        raise InputError(f"The output {out} must be a .mid file.")
    v.output_file(out, (".mid", ".midi"), "output")
    if wav and soundfont is not None:
        v.input_file(soundfont, "SoundFont")


def _check_inputs(paths: list[Path]) -> None:
    for path in paths:
        v.input_file(path, "MIDI file")


def _inputs(paths: list[Path]):  # noqa: ANN202
    from latentmusic.musicvae.files import read_input

    return [read_input(p) for p in paths]


@app.command()
def sample(
    model: ModelOpt,
    out: OutOpt,
    n: CountOpt = 4,
    temperature: TempOpt = 0.5,
    seed: SeedOpt = 0,
    qpm: QpmOpt = 120.0,
    each: EachOpt = False,
    gap_bars: GapOpt = 1,
    wav: WavOpt = False,
    soundfont: FontOpt = None,
) -> None:
    """Decode random points of the latent space (draws from the prior)."""
    _check_out(out, wav, soundfont)
    vae = _load(model)
    _write(vae.sample(n, temperature, seed=seed, qpm=qpm), out, each, gap_bars, wav, soundfont)


@app.command()
def interpolate(
    inputs: Annotated[
        list[Path], typer.Argument(help="2 MIDI files (a path) or 4 (corners of a grid).")
    ],
    model: ModelOpt,
    out: OutOpt,
    steps: Annotated[
        int,
        typer.Option(
            help=f"Points along the path (endpoints included, at most {v.MAX_PATH_STEPS}); "
            f"a grid is steps x steps (at most {v.MAX_GRID_STEPS} x {v.MAX_GRID_STEPS})."
        ),
    ] = 8,
    temperature: TempOpt = 0.0,
    seed: SeedOpt = 0,
    start_bar: StartOpt = None,
    method: Annotated[str, typer.Option(help="slerp (spherical, the default) or lerp.")] = "slerp",
    each: EachOpt = False,
    gap_bars: GapOpt = 0,
    wav: WavOpt = False,
    soundfont: FontOpt = None,
) -> None:
    """Morph between 2 inputs, or fill the grid between 4, through the latent space."""
    from latentmusic.errors import InputError

    _check_out(out, wav, soundfont)
    if len(inputs) not in (2, 4):
        raise InputError(
            f"interpolate takes 2 MIDI files (a path) or 4 (a grid), not {len(inputs)}."
        )
    if method not in ("slerp", "lerp"):
        raise InputError(f"--method must be slerp or lerp, not {method!r}.")
    if steps < 2:
        raise InputError(f"--steps must be at least 2, not {steps}.")
    limit = v.MAX_PATH_STEPS if len(inputs) == 2 else v.MAX_GRID_STEPS
    if steps > limit:
        shape = "a path" if len(inputs) == 2 else "a grid (steps x steps results)"
        raise InputError(f"--steps must be at most {limit} for {shape}, not {steps}.")
    _check_inputs(inputs)
    vae = _load(model)
    result = vae.interpolate(_inputs(inputs), steps, temperature, method, seed, start_bar)
    _write(result, out, each, gap_bars, wav, soundfont)


@app.command()
def similar(
    input: Annotated[Path, typer.Argument(help="MIDI file to vary.")],
    model: ModelOpt,
    out: OutOpt,
    n: CountOpt = 4,
    similarity: Annotated[
        float,
        typer.Option(
            help="1 = the input itself, 0 = unrelated random samples.",
            callback=v.float_range(0.0, 1.0),
        ),
    ] = 0.8,
    temperature: TempOpt = 0.5,
    seed: SeedOpt = 0,
    start_bar: StartOpt = None,
    each: EachOpt = False,
    gap_bars: GapOpt = 1,
    wav: WavOpt = False,
    soundfont: FontOpt = None,
) -> None:
    """Variations of a MIDI file: its code moved towards random codes by 1 - similarity."""
    _check_out(out, wav, soundfont)
    _check_inputs([input])
    vae = _load(model)
    (seq,) = _inputs([input])
    result = vae.similar(seq, n, similarity, temperature, seed, start_bar)
    _write(result, out, each, gap_bars, wav, soundfont)


@app.command()
def attribute(
    input: Annotated[Path, typer.Argument(help="MIDI file to change.")],
    model: ModelOpt,
    out: OutOpt,
    attribute: Annotated[
        str,
        typer.Option(
            help="note_density, average_interval, syncopation, pitch_range or c_diatonic."
        ),
    ],
    magnitude: Annotated[
        float,
        typer.Option(
            help="How far to move along the vector (negative: less of it).",
            callback=v.float_range(-100.0, 100.0),
        ),
    ] = 1.0,
    vectors: Annotated[
        Path | None, typer.Option(help="Attribute vector file (default: RUN/attributes.npz).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="MIDI folder to compute the vectors from when the run has none."),
    ] = None,
    temperature: TempOpt = 0.0,
    seed: SeedOpt = 0,
    start_bar: StartOpt = None,
    wav: WavOpt = False,
    soundfont: FontOpt = None,
) -> None:
    """Add an attribute vector (more notes, wider leaps, ...) to a MIDI file's code.

    The output holds the input's bars as the model reads them, a bar of rest, then the result.
    """
    from latentmusic.errors import InputError
    from latentmusic.musicvae.attributes import VECTORS_FILE, check_attribute, load_vectors

    _check_out(out, wav, soundfont)
    _check_inputs([input])
    if vectors is not None:
        v.npz_file(vectors, "Attribute vector file")
    vae = _load(model)
    check_attribute(attribute, vae.config.representation)
    (seq,) = _inputs([input])
    window = vae.representation.decode(vae.window(seq, start_bar), qpm=seq.qpm)
    path = vectors or model / VECTORS_FILE
    if not path.is_file() and vectors is None and data is not None:
        _compute_vectors(vae, data, path)
    if not path.is_file():
        raise InputError(
            f"{path} does not exist; pass --data DIR to compute attribute vectors from a MIDI folder."
        )
    v.npz_file(path, "Attribute vector file")
    table = load_vectors(path)
    if attribute not in table:
        raise InputError(f"{path} has no vector for '{attribute}' (it has: {', '.join(table)}).")
    result = vae.apply_attribute(
        seq, table[attribute]["vector"], magnitude, temperature, seed, start_bar
    )
    _write([window, *result], out, False, 1, wav, soundfont)


def _compute_vectors(vae, data: Path, path: Path) -> None:  # noqa: ANN001
    from latentmusic.errors import InputError
    from latentmusic.musicvae.attributes import compute_vectors, save_vectors
    from latentmusic.musicvae.data import build_dataset

    dataset, _ = build_dataset(data, "train", vae.config, augment=False, limit=4096)
    if len(dataset) < 8:
        raise InputError(
            f"{data} has too few usable windows ({len(dataset)}) to compute attribute vectors."
        )
    save_vectors(path, compute_vectors(vae, dataset.windows))
    typer.echo(f"wrote {path}")


@app.command()
def encode(
    inputs: Annotated[list[Path], typer.Argument(help="MIDI file(s) to encode.")],
    model: ModelOpt,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the codes: .npy or .json.")
    ],
    start_bar: StartOpt = None,
) -> None:
    """Write the latent codes (posterior means) of MIDI files, one row per file."""
    import json

    import numpy as np

    from latentmusic.errors import InputError
    from latentmusic.fileio import atomic_path, write_json

    if out.suffix.lower() not in (".npy", ".json"):
        raise InputError(f"The output {out} must be a .npy or .json file.")
    v.output_file(out, (".npy", ".json"), "output")
    _check_inputs(inputs)
    vae = _load(model)
    z = vae.encode(_inputs(inputs), start_bar).numpy()
    if out.suffix.lower() == ".npy":
        with atomic_path(out) as tmp, open(tmp, "wb") as handle:
            np.save(handle, z)
    else:
        write_json(
            out,
            {
                "model": str(model),
                "inputs": [str(p) for p in inputs],
                "z": json.loads(json.dumps(z.tolist())),
            },
        )
    typer.echo(f"wrote {out} ({z.shape[0]} x {z.shape[1]})")


@app.command()
def decode(
    codes: Annotated[Path, typer.Argument(help="Latent codes from `encode` (.npy or .json).")],
    model: ModelOpt,
    out: OutOpt,
    temperature: TempOpt = 0.0,
    seed: SeedOpt = 0,
    qpm: QpmOpt = 120.0,
    each: EachOpt = False,
    gap_bars: GapOpt = 1,
    wav: WavOpt = False,
    soundfont: FontOpt = None,
) -> None:
    """Turn latent codes (one per row) back into music."""
    import json

    import numpy as np

    from latentmusic.errors import InputError

    _check_out(out, wav, soundfont)
    v.input_file(codes, "Code file")
    try:
        if codes.suffix.lower() == ".npy":
            z = np.load(codes, allow_pickle=False)
        else:
            data = json.loads(codes.read_text())
            z = np.asarray(data["z"] if isinstance(data, dict) else data, dtype=np.float32)
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InputError(
            f"{codes} is not a code file written by `latentmusic musicvae encode`."
        ) from exc
    z = v.numeric_array(z, codes, "a code file (one latent code per row)")
    if len(z) > v.MAX_SAMPLES:
        raise InputError(
            f"{codes} holds {len(z):,} codes; decode at most {v.MAX_SAMPLES:,} at once."
        )
    vae = _load(model)
    z = np.atleast_2d(z).astype(np.float32)
    if z.shape[1] != vae.config.z_size:
        raise InputError(
            f"{codes} holds codes of {z.shape[1]} numbers; this model's codes have "
            f"{vae.config.z_size}."
        )
    _write(vae.decode(z, temperature, seed=seed, qpm=qpm), out, each, gap_bars, wav, soundfont)


@app.command()
def reconstruct(
    inputs: Annotated[list[Path], typer.Argument(help="MIDI file(s) to encode and decode again.")],
    model: ModelOpt,
    out: OutOpt,
    temperature: TempOpt = 0.0,
    seed: SeedOpt = 0,
    start_bar: StartOpt = None,
    each: EachOpt = False,
    gap_bars: GapOpt = 1,
    wav: WavOpt = False,
    soundfont: FontOpt = None,
) -> None:
    """Encode and decode: what the latent code keeps of each input."""
    _check_out(out, wav, soundfont)
    _check_inputs(inputs)
    vae = _load(model)
    result = vae.reconstruct(_inputs(inputs), temperature, seed, start_bar)
    _write(result, out, each, gap_bars, wav, soundfont)
