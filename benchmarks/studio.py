"""Studio round trips: how long the pages wait for a melody morph and for a full palette.

    python benchmarks/studio.py                          # cat-mel_2bar_small when shipped
    python benchmarks/studio.py --model runs/mel --repeats 9

A real ``latentmusic studio`` app (uvicorn, on a free localhost port, in this process) is
asked over HTTP, as the browser asks it, for: an 8-step morph between two preset melodies
(``/interpolate``), a full 11 x 11 melody palette between four presets (``/grid``), and an
11 x 11 drum palette, and (when ``nsynth-harmonic`` is shipped) a 5 x 5 NSynth pad at one
pitch — render plus its WAV, each at a pitch not rendered before, then the same pads cached —
and (when a translation model is shipped) the translation booth: a 10 s stereo 44.1 kHz
upload, the first second of its translation audible, and the whole translation.
Each time is the whole round trip: request, JSON parsing, encoding,
decoding, JSON back. One warm-up call each, then ``--repeats`` timed calls; the median is
the figure. Greedy decoding costs the same whatever the weights hold, so where a model is
not shipped (a drum model today) an untrained model of the same architecture stands in,
and the JSON says so. Prints a table and writes ``benchmarks/results/studio.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "studio.json"


def _stand_in(preset: str, root: Path) -> Path:
    """An untrained MusicVAE with ``preset``'s architecture (timing only)."""
    from latentmusic.musicvae.config import PRESETS
    from latentmusic.musicvae.model import FAMILY, MusicVAE
    from latentmusic.musicvae.train import checkpoint_extra
    from latentmusic.train.checkpoint import save_checkpoint
    from latentmusic.train.config import config_to_dict

    torch.manual_seed(0)
    config = PRESETS[preset]
    return save_checkpoint(
        root / preset,
        MusicVAE(config),
        family=FAMILY,
        model_type=config.model_type,
        preset=preset,
        config=config_to_dict(config),
        extra=checkpoint_extra(config),
        meta={"steps": 0},
    )


def _model(value: str | None, preset: str, root: Path) -> tuple[str, str]:
    """(path, what it is): the named or shipped model, else an untrained stand-in."""
    from latentmusic.catalogue import shipped_names

    if value:
        return value, f"{value} (as given)"
    if preset in shipped_names():
        return preset, f"{preset} (shipped)"
    return str(_stand_in(preset, root)), f"{preset} architecture, untrained stand-in (timing only)"


def _serve(app) -> tuple[str, object]:  # noqa: ANN001
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def _round_trip(url: str, body: dict) -> tuple[float, dict]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.loads(response.read())
    return time.perf_counter() - started, answer


def measure(url: str, body: dict, repeats: int, expect: int) -> dict[str, object]:
    _, answer = _round_trip(url, body)  # warm-up
    assert len(answer["melodies"]) == expect, answer
    times = [_round_trip(url, body)[0] for _ in range(repeats)]
    return {
        "median_ms": round(1000 * statistics.median(times), 1),
        "min_ms": round(1000 * min(times), 1),
        "max_ms": round(1000 * max(times), 1),
        "repeats": repeats,
        "melodies": expect,
        "notes": sum(len(m["notes"]) for m in answer["melodies"]),
    }


def measure_pad(base: str, name: str, repeats: int) -> dict[str, dict[str, object]]:
    """A 5 x 5 pad as the pad page waits for it: the render request, then its one WAV."""
    from latentmusic.studio.pads import DEFAULT_CORNERS

    corners = [{"preset": c} for c in DEFAULT_CORNERS]

    def trip(pitch: int) -> tuple[float, dict]:
        took, info = _round_trip(
            f"{base}/{name}/pad", {"corners": corners, "pitch": pitch, "size": 5}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(base.rsplit("/api/", 1)[0] + info["audio"], timeout=600) as r:
            assert len(r.read()) > 25 * info["cell_samples"] * 2
        return took + time.perf_counter() - started, info

    trip(48)  # warm-up: the first FluidSynth corner renders, the first decode
    pitches = list(range(50, 50 + 2 * repeats, 2))
    fresh = [trip(p) for p in pitches]
    assert not any(info["cached"] for _, info in fresh)
    cached = [trip(p)[0] for p in pitches]

    def row(times: list[float], what: str) -> dict[str, object]:
        return {
            "model": what,
            "median_ms": round(1000 * statistics.median(times), 1),
            "min_ms": round(1000 * min(times), 1),
            "max_ms": round(1000 * max(times), 1),
            "repeats": len(times),
        }

    return {
        "NSynth pad 5 x 5, new pitch": row([t for t, _ in fresh], f"{name} (shipped)"),
        "NSynth pad 5 x 5, cached": row(cached, f"{name} (shipped)"),
    }


def _melody_wav(seconds: float, rate: int = 44100) -> bytes:
    """A stereo 16-bit WAV of a plain harmonic melody (C major, four notes a second)."""
    import io

    import numpy as np
    import soundfile as sf

    t = np.arange(int(rate / 4)) / rate
    notes = []
    for i in range(int(4 * seconds)):
        f0 = 261.63 * 2 ** ([0, 2, 4, 5, 7, 9, 11, 12][i % 8] / 12)
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
        notes.append(0.2 * tone * np.exp(-6 * t))
    mono = np.concatenate(notes).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.stack([mono, 0.8 * mono], axis=1), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def measure_booth(url: str, name: str, repeats: int, seconds: float) -> dict[str, dict]:
    """The translation booth as its page waits: the upload of a stereo 44.1 kHz recording,
    the first second of a translation audible (its live samples), and the whole of it."""
    data = _melody_wav(seconds)
    domain = None
    uploads, first, whole = [], [], []
    for i in range(repeats + 1):  # the first round warms up
        started = time.perf_counter()
        # trailing bytes after the WAV's data make each upload new content: the booth keeps
        # one recording per content hash and would not check a repeat again
        request = urllib.request.Request(
            f"{url}/api/booth/upload?name=bench{i}.wav", data=data + bytes(4 * i)
        )
        with urllib.request.urlopen(request, timeout=600) as r:
            recording = json.loads(r.read())
        uploaded = time.perf_counter()
        if domain is None:
            with urllib.request.urlopen(f"{url}/api/models", timeout=60) as r:
                found = [m for m in json.loads(r.read())["models"] if m["name"] == name]
            domain = found[0]["domains"][0]
        took, job = _round_trip(
            f"{url}/api/models/{name}/translate",
            {"recording": recording["id"], "targets": [domain], "seed": 0},
        )
        heard = None
        while job["state"] in ("queued", "running"):
            if heard is None and job["targets"][0]["samples"] >= job["sample_rate"]:
                heard = time.perf_counter()
            time.sleep(0.05)
            with urllib.request.urlopen(f"{url}/api/booth/jobs/{job['job']}", timeout=60) as r:
                job = json.loads(r.read())
        assert job["state"] == "done", job
        done = time.perf_counter()
        if i:
            uploads.append(uploaded - started)
            first.append((heard or done) - uploaded)
            whole.append(done - uploaded)

    def row(times: list[float]) -> dict[str, object]:
        return {
            "model": f"{name} (shipped), into {domain}",
            "median_ms": round(1000 * statistics.median(times), 1),
            "min_ms": round(1000 * min(times), 1),
            "max_ms": round(1000 * max(times), 1),
            "repeats": len(times),
        }

    return {
        f"booth: upload {seconds:g} s stereo WAV": row(uploads),
        "booth: first second audible": row(first),
        f"booth: whole {seconds:g} s translated": row(whole),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="melody model (name or path); default cat-mel_2bar_small")
    parser.add_argument("--drums", help="drum model (name or path); default: an untrained stand-in")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--booth-repeats", type=int, default=3)
    parser.add_argument(
        "--booth-seconds", type=float, default=10.0, help="the booth's recording (WaveNet: <= 10)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--note", default="", help="recorded with the numbers (e.g. 'provisional: machine busy')"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from latentmusic.catalogue import shipped_names
    from latentmusic.studio.app import create_app
    from latentmusic.studio.engine import load_models
    from latentmusic.studio.melodies import DRUM_PRESETS, MELODY_PRESETS

    with tempfile.TemporaryDirectory() as tmp:
        melody_path, melody_what = _model(args.model, "cat-mel_2bar_small", Path(tmp))
        drums_path, drums_what = _model(args.drums, "cat-drums_2bar_small", Path(tmp))
        pad_model = "nsynth-harmonic" if "nsynth-harmonic" in shipped_names() else None
        booth_model = next(
            (m for m in ("translation-notebank", "translation-small") if m in shipped_names()),
            None,
        )
        extra = [m for m in (pad_model, booth_model) if m]
        models = load_models([melody_path, drums_path, *extra])
        mel_name, drum_name = list(models)[:2]
        url, server = _serve(create_app(models))
        try:
            melodies = [p["melody"] for p in MELODY_PRESETS]
            beats = [p["melody"] for p in DRUM_PRESETS]
            base = f"{url}/api/models"
            rows = {
                "melody morph, 8 steps": (
                    f"{base}/{mel_name}/interpolate",
                    {"melodies": melodies[:2], "steps": 8},
                    8,
                    melody_what,
                ),
                "melody palette, 11 x 11": (
                    f"{base}/{mel_name}/grid",
                    {"corners": [melodies[i] for i in (0, 3, 4, 7)], "size": 11},
                    121,
                    melody_what,
                ),
                "drum palette, 11 x 11": (
                    f"{base}/{drum_name}/grid",
                    {"corners": beats, "size": 11},
                    121,
                    drums_what,
                ),
            }
            results = {}
            for name, (endpoint, body, expect, what) in rows.items():
                results[name] = {"model": what, **measure(endpoint, body, args.repeats, expect)}
            if pad_model:
                results.update(measure_pad(base, pad_model, args.repeats))
            if booth_model:
                results.update(
                    measure_booth(url, booth_model, args.booth_repeats, args.booth_seconds)
                )
        finally:
            server.should_exit = True  # type: ignore[attr-defined]
    report = {
        "what": "studio server round trips over HTTP on localhost (request to parsed JSON answer)",
        "note": args.note,
        "results": results,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"{'round trip':<34} {'median':>9} {'min':>9} {'max':>9}  model")
    for name, r in results.items():
        print(
            f"{name:<34} {r['median_ms']:>7.0f}ms {r['min_ms']:>7.0f}ms {r['max_ms']:>7.0f}ms  {r['model']}"
        )
    if args.note:
        print(f"note: {args.note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
