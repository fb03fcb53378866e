"""The translation booth: its API through FastAPI's TestClient, and its page in headless
Chromium (skipped where Debian's ``chromium`` and ``chromium-driver`` are not installed).

The translator is an untrained ``notebank-tiny`` model (random weights, written as a
checkpoint the way training writes one, ``export_model``): it decodes through the same code
as a trained one, so the booth's mechanics are tested in a second instead of minutes of
training on a busy CPU, and every translation the booth serves is compared with what the
model's own ``translate()`` gives for the same input and seed.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from fastapi.testclient import TestClient

from latentmusic.studio import booth
from latentmusic.studio.app import PAGES, create_app
from latentmusic.studio.engine import load_models
from latentmusic.studio.melodies import MELODY_PRESETS, midi_bytes, sequence_from_json
from tests.conftest import CHROMEDRIVER, CHROMIUM, NO_CHROMIUM, studio_server
from tests.test_studio_browser import (
    _download,
    _no_errors,
    _open,
    _shot,
    _untrained_drum_model,
    _wait,
)

DOMAINS = ["sine", "square", "saw"]
NOTEBANK = "notebank-run"  # the API names a model by its run folder
WAVENET = "wavenet-run"
DRUMS = "drums-untrained"
RATE = 44100


def _translator(path: Path, preset: str) -> Path:
    from latentmusic.translation.config import PRESETS
    from latentmusic.translation.model import UniversalTranslator
    from latentmusic.translation.train import export_model

    torch.manual_seed(0)
    model = UniversalTranslator(PRESETS[preset], DOMAINS)
    if PRESETS[preset].decoder == "notebank":
        # A fresh note bank's heads start at zero (every voice constant, whatever it hears):
        # random heads and profiles make each decoder follow the latents in its own timbre.
        with torch.no_grad():
            for decoder in model.decoders:
                decoder.level.weight.normal_(std=0.5)
                decoder.level.bias.fill_(-1.0)
                decoder.brightness.weight.normal_(std=0.5)
                decoder.profile.normal_(std=1.0)
    return export_model(model, path, preset, {"steps": 0, "summary": "untrained, for tests"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("booth-runs")
    return {
        NOTEBANK: _translator(root / NOTEBANK, "notebank-tiny"),
        WAVENET: _translator(root / WAVENET, "tiny"),
        DRUMS: _untrained_drum_model(root / DRUMS),
    }


@pytest.fixture(scope="module")
def models(runs: dict[str, Path]):  # noqa: ANN201
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_models([str(runs[NOTEBANK]), str(runs[WAVENET]), str(runs[DRUMS])])
    torch.set_num_threads(before)


@pytest.fixture
def client(models) -> Iterator[TestClient]:  # noqa: ANN001
    """A fresh studio per test (its own booth), started and stopped as a server is."""
    with TestClient(create_app(models), raise_server_exceptions=False) as test_client:
        yield test_client


def _error(response, status: int) -> str:  # noqa: ANN001
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and "Traceback" not in message
    return message


def _recording(seconds: float = 1.2, rate: int = RATE, channels: int = 2) -> np.ndarray:
    """A two-note phrase, a different mix in each channel (so mixing to mono matters)."""
    t = np.arange(int(round(seconds * rate))) / rate
    notes = np.where(t < seconds / 2, 330.0, 440.0)
    left = 0.4 * np.sin(2 * np.pi * notes * t) * np.exp(-1.5 * (t % (seconds / 2)))
    right = 0.25 * np.sin(2 * np.pi * 1.5 * notes * t)
    return np.stack([left, right][:channels], axis=1)


def _file(audio: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, subtype=subtype, format=fmt)
    return buffer.getvalue()


def _upload(client: TestClient, data: bytes, name: str = "my take.wav") -> dict:
    response = client.post(f"/api/booth/upload?name={name}", content=data)
    assert response.status_code == 200, response.text
    return response.json()


def _finish(client: TestClient, job: str, timeout: float = 900.0) -> tuple[dict, list[dict]]:
    """Poll a job until it ends; (last answer, every answer)."""
    seen = []
    end = time.monotonic() + timeout
    while True:
        info = client.get(f"/api/booth/jobs/{job}").json()
        seen.append(info)
        if info["state"] not in ("queued", "running"):
            return info, seen
        assert time.monotonic() < end, f"job {job} still {info['state']} after {timeout} s"
        time.sleep(0.2)


def _folders(client: TestClient) -> list[str]:
    root = client.app.state.booth._root
    return sorted(p.name.split("-")[0] for p in root.iterdir()) if root is not None else []


# ---------------------------------------------------------------------------- the page
def test_the_page_its_assets_and_the_model_facts(client: TestClient) -> None:
    page = client.get("/booth")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Translation booth</h1>" in page.text
    for asset in ("/static/js/studio.js", "/static/js/booth.js", "/static/css/studio.css"):
        assert f'"{asset}"' in page.text
        served = client.get(asset)
        assert served.status_code == 200 and len(served.content) > 1000, asset
    script = client.get("/static/js/booth.js").text
    assert "/api/booth/upload" in script and "/translate" in script and "live" in script
    assert "http://" not in page.text + script and "https://" not in page.text + script
    # every page links the booth in its navigation (the booth itself as the current page)
    for path in ["/", *(f"/{p}" for p in PAGES)]:
        assert '<a href="/booth"' in client.get(path).text, path
    assert '<a href="/booth" aria-current="page">Translation booth</a>' in page.text
    assert 'class="card" href="/booth"' in client.get("/").text

    body = client.get("/api/models").json()
    info = next(m for m in body["models"] if m["name"] == NOTEBANK)
    assert info["family"] == "translation" and info["domains"] == DOMAINS
    assert (info["decoder"], info["sample_rate"], info["max_seconds"]) == (
        "notebank",
        16000,
        booth.MAX_SECONDS,
    )
    slow = next(m for m in body["models"] if m["name"] == WAVENET)
    assert (slow["decoder"], slow["max_seconds"]) == ("wavenet", booth.MAX_SLOW_SECONDS)
    assert "translation" not in body["notes"]
    limits = client.get("/api/limits").json()
    assert limits["booth_max_upload_bytes"] == booth.MAX_UPLOAD_BYTES == 128 * 1024 * 1024
    assert limits["booth_max_seconds"] == 600.0 and limits["max_body_bytes"] == 2 * 1024 * 1024


# ------------------------------------------------------------------------- round trip
def test_a_stereo_recording_is_translated_into_two_domains(models) -> None:  # noqa: ANN001
    with TestClient(create_app(models), raise_server_exceptions=False) as client:
        root = _round_trip(client, models)
        assert root.is_dir()
    assert not root.exists()  # the booth's temporary folder goes with the studio


def _round_trip(client: TestClient, models) -> Path:  # noqa: ANN001
    stereo = _recording(1.2)
    n = stereo.shape[0]
    data = _file(stereo, RATE)
    up = _upload(client, data, "../../my take.wav")
    assert (up["format"], up["sample_rate"], up["channels"], up["frames"]) == ("WAV", RATE, 2, n)
    assert up["seconds"] == 1.2 and up["label"] == "my-take" and len(up["id"]) == 16
    assert up["notes"] == ["The recording has 2 channels; they are mixed to mono."]
    assert _upload(client, data)["id"] == up["id"]  # the same bytes are the same recording

    started = client.post(
        f"/api/models/{NOTEBANK}/translate",
        json={"recording": up["id"], "targets": ["sine", "saw"], "seed": 7},
    )
    assert started.status_code == 200, started.text
    job = started.json()
    assert job["state"] in ("queued", "running") and [t["domain"] for t in job["targets"]] == [
        "sine",
        "saw",
    ]
    info, seen = _finish(client, job["job"])
    assert info["state"] == "done" and info["error"] is None, info
    assert (info["sample_rate"], info["frames"], info["seed"]) == (RATE, n, 7)
    assert info["progress"] == 1.0 and info["eta_seconds"] == 0.0 and info["speed"] > 0
    assert [t["samples"] for t in info["targets"]] == [n, n]
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress) and all(0.0 <= p <= 1.0 for p in progress)

    # the model's own translation of the same mono mix, at the input's rate, same seed
    decoded = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)[0]
    mono = decoded.mean(axis=1, dtype=np.float32)
    with torch.no_grad():
        direct = models[NOTEBANK].model.translate(mono, ["sine", "saw"], sr=RATE, seed=7)
    outputs = {}
    for target in info["targets"]:
        wav = client.get(target["wav"])
        assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
        name = f"my-take-{target['domain']}.wav"
        assert wav.headers["content-disposition"] == f'attachment; filename="{name}"'
        assert target["filename"] == name
        meta = sf.info(io.BytesIO(wav.content))
        assert (meta.samplerate, meta.frames, meta.channels, meta.subtype) == (RATE, n, 1, "PCM_16")
        audio = sf.read(io.BytesIO(wav.content), dtype="float32")[0]
        assert audio.shape == (n,) and np.isfinite(audio).all()
        assert np.sqrt(np.mean(audio**2)) > 1e-3  # not silent
        expected = np.clip(direct[target["domain"]], -1.0, 1.0)
        assert np.abs(audio - expected).max() <= 1.0 / 32768 + 1e-6
        outputs[target["domain"]] = (audio, wav.content)
    assert np.abs(outputs["sine"][0] - outputs["saw"][0]).max() > 1e-3  # two decoders

    # the live endpoint serves the samples written so far, from any start, as a WAV
    live = client.get(f"{info['targets'][1]['live']}?start=1000")
    assert live.status_code == 200 and live.headers["x-samples"] == str(n - 1000)
    assert (live.headers["x-total"], live.headers["x-state"]) == (str(n), "done")
    assert live.content[44:] == outputs["saw"][1][44 + 2000 :]
    assert sf.info(io.BytesIO(live.content)).frames == n - 1000
    end = client.get(f"{info['targets'][0]['live']}?start={n}")
    assert end.headers["x-samples"] == "0" and len(end.content) == 44
    assert "start must be between 0 and" in _error(
        client.get(f"{info['targets'][0]['live']}?start={n + 1}"), 422
    )
    # on disk: the recording and the job's two WAVs (its link to the recording is gone)
    root = client.app.state.booth._root
    job_dir = next(root.glob("job-*"))
    assert sorted(p.name for p in job_dir.iterdir()) == ["0.wav", "1.wav"]
    assert _folders(client) == ["job", "upload"]
    # forgetting the job removes its files
    assert client.delete(f"/api/booth/jobs/{info['job']}").json()["state"] == "removed"
    assert not job_dir.exists()
    assert _error(client.get(f"/api/booth/jobs/{info['job']}"), 404) == (
        f"No translation job '{info['job']}' in this studio (it keeps the last 8); translate "
        "the recording again."
    )
    return root


def test_other_formats_are_recordings_with_their_own_rate(client: TestClient) -> None:
    mono = _recording(0.6, 22050, channels=1)
    flac = _upload(client, _file(mono, 22050, "FLAC"), "take.flac")
    assert (flac["format"], flac["sample_rate"], flac["channels"], flac["frames"]) == (
        "FLAC",
        22050,
        1,
        mono.shape[0],
    )
    assert flac["notes"] == []
    ogg = _upload(client, _file(_recording(0.6, 48000), 48000, "OGG", "VORBIS"), "take.ogg")
    assert (ogg["format"], ogg["sample_rate"], ogg["channels"]) == ("OGG", 48000, 2)
    assert abs(ogg["frames"] - 0.6 * 48000) < 0.01 * 48000
    mp3 = _upload(client, _file(_recording(0.6), RATE, "MP3", "MPEG_LAYER_III"), "take.mp3")
    assert (mp3["format"], mp3["sample_rate"], mp3["channels"]) == ("MP3", RATE, 2)
    # the frame count is what the decoder reads (what the translation will be as long as)
    assert mp3["frames"] == sf.info(io.BytesIO(_file(_recording(0.6), RATE, "MP3", "MPEG_LAYER_III"))).frames  # fmt: skip
    aiff = _upload(client, _file(_recording(0.3, 8000, 1), 8000, "AIFF"), "take.aiff")
    assert (aiff["format"], aiff["sample_rate"]) == ("AIFF", 8000)


# ---------------------------------------------------------------------- queue and cancel
def test_jobs_wait_for_the_model_and_can_be_cancelled(client: TestClient, models) -> None:  # noqa: ANN001
    rec = _upload(client, _file(_recording(0.5), RATE))
    body = {"recording": rec["id"], "targets": ["square"]}
    url = f"/api/models/{NOTEBANK}/translate"
    with models[NOTEBANK].lock:  # another request is using the model
        first = client.post(url, json=body).json()
        second = client.post(url, json=body).json()
        assert first["state"] == second["state"] == "queued" and first["job"] != second["job"]
        waiting = client.get(f"/api/booth/jobs/{first['job']}").json()
        assert (waiting["state"], waiting["progress"], waiting["eta_seconds"]) == (
            "queued",
            0,
            None,
        )
        assert _error(client.post(url, json=body), 429) == (
            "The booth is already running 2 translations; wait for one to finish."
        )
        live = client.get(f"{first['targets'][0]['live']}?start=0")
        assert (live.headers["x-samples"], live.headers["x-state"]) == ("0", "queued")
        assert _error(client.get(first["targets"][0]["wav"]), 409) == (
            "The translation into 'square' is not finished yet (0%); its live audio plays "
            "while it is made."
        )
        for job in (first, second):
            cancelled = client.delete(f"/api/booth/jobs/{job['job']}").json()
            assert cancelled["state"] == "cancelled"
            assert cancelled["error"] == "The translation was cancelled."
        assert _error(client.get(first["targets"][0]["wav"]), 409) == (
            "The translation was cancelled."
        )
        assert _folders(client) == ["upload"]  # nothing of the cancelled jobs is left
    # the model is free again: a new job runs
    info, _ = _finish(client, client.post(url, json=body).json()["job"])
    assert info["state"] == "done" and info["targets"][0]["samples"] == int(0.5 * RATE)


# ------------------------------------------------------------------------- bad input
def test_bad_recordings_are_refused_with_one_sentence(client: TestClient) -> None:
    def upload(data: bytes, status: int = 422) -> str:
        return _error(client.post("/api/booth/upload?name=x.wav", content=data), status)

    assert upload(b"") == "The upload is empty; send the bytes of a WAV, FLAC, OGG or MP3 file."
    not_audio = (
        "The upload is not an audio file the booth can read; send a WAV, FLAC, OGG or MP3 file."
    )
    assert upload(b"hello, this is a text file\n" * 20) == not_audio
    assert upload(b"RIFF\x10\x00\x00\x00WAVEfmt nonsense") == not_audio
    assert upload(midi_bytes(sequence_from_json(MELODY_PRESETS[0]["melody"]))) == not_audio
    assert upload(_file(np.zeros((0, 2)), RATE)) == "The recording holds no audio samples."
    assert upload(_file(_recording(1.0) * 0.0005, RATE)) == (
        "The recording is silent (its peak stays below -60 dBFS); there is nothing to translate."
    )
    assert upload(_file(_recording(0.05, 16000), 16000)) == (
        "The recording lasts 50 ms; the booth needs at least 100 ms."
    )
    assert upload(_file(_recording(1.0, 4000, 1), 4000)) == (
        "The recording's sample rate is 4000 Hz; the booth takes 8000 to 192000 Hz."
    )
    long = np.tile(_recording(1.0, 8000, 1), (601, 1))
    assert upload(_file(long, 8000)) == (
        "The recording lasts 601 s; the booth takes at most 600 s (10 minutes) at a time."
    )
    caf = _file(_recording(0.5, 16000, 1), 16000, "CAF")
    assert upload(caf) == "The upload is a CAF file; send a WAV, FLAC, OGG or MP3 file."
    nan = _recording(0.5, 16000, 1).astype(np.float32)
    nan[100] = np.nan
    assert upload(_file(nan, 16000, "WAV", "FLOAT")) == (
        "The recording holds NaN or infinite samples."
    )
    # nothing of a refused upload is left on disk
    assert _folders(client) == []
    # a WAV cut short is what can be read of it (libsndfile reads the whole frames there)
    good = _file(_recording(1.0, RATE), RATE)
    cut = good[: len(good) // 2] + b"\xff" * 7
    assert _upload(client, cut)["frames"] == (len(cut) - 44) // 4 == 22046
    assert _folders(client) == ["upload"]


def test_uploads_over_the_size_limit_are_refused_whole_or_streamed(
    models,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    monkeypatch.setattr(booth, "MAX_UPLOAD_BYTES", 1024 * 1024)  # 1 MB, for the test
    with TestClient(create_app(models), raise_server_exceptions=False) as client:
        big = _file(_recording(7.0, RATE), RATE)  # 16-bit stereo: 1.2 MB
        assert len(big) > 1024 * 1024
        assert _error(client.post("/api/booth/upload", content=big), 413) == (
            "The recording is 1.2 MB; the translation booth takes files of at most 1 MB."
        )

        def chunks() -> Iterator[bytes]:  # no Content-Length: the route counts as it reads
            for i in range(0, len(big), 64 * 1024):
                yield big[i : i + 64 * 1024]

        message = _error(client.post("/api/booth/upload", content=chunks()), 413)
        assert message == "The recording is larger than the 1 MB the translation booth takes per file."  # fmt: skip
        assert _folders(client) == []  # the part received was removed
        # other routes keep the studio's own 2 MB limit
        huge = b"\0" * (2 * 1024 * 1024 + 1)
        assert "WAV uploads" in _error(client.post("/api/nsynth/upload", content=huge), 413)
        assert client.post("/api/booth/upload", content=_file(_recording(0.5), RATE)).status_code == 200  # fmt: skip


def test_bad_translate_requests_are_refused_with_one_sentence(client: TestClient) -> None:
    rec = _upload(client, _file(_recording(0.5), RATE))
    url = f"/api/models/{NOTEBANK}/translate"

    def translate(body: dict, status: int = 422, model: str = NOTEBANK) -> str:
        return _error(client.post(f"/api/models/{model}/translate", json=body), status)

    assert translate({"recording": rec["id"], "targets": ["tuba"]}) == (
        "Unknown domain 'tuba'; this model knows: sine, square, saw."
    )
    assert translate({"recording": rec["id"], "targets": []}) == (
        "Name at least one target domain; this model knows: sine, square, saw."
    )
    assert translate({"recording": "0" * 16, "targets": ["sine"]}, 404) == (
        "No recording '0000000000000000' in this studio (it keeps the last 4); upload it again."
    )
    for bad in ("../../etc/passwd", "0123456789ABCDEF", "/etc/passwd"):
        assert translate({"recording": bad, "targets": ["sine"]}) == (
            "A recording id is the 16 hex digits the upload returned."
        )
    assert "Extra inputs are not permitted" in translate(
        {"recording": rec["id"], "targets": ["sine"], "path": "/etc/passwd"}
    )
    assert "seed" in translate({"recording": rec["id"], "targets": ["sine"], "seed": -1})
    assert translate({"recording": rec["id"], "targets": ["sine"]}, 404, "nope") == (
        f"No model 'nope' in this studio (it serves: {NOTEBANK}, {WAVENET}, {DRUMS})."
    )
    assert translate({"recording": rec["id"], "targets": ["sine"]}, 422, DRUMS) == (
        f"Model '{DRUMS}' is a MusicVAE model; this needs a translation model."
    )
    # WaveNet decoders are slow on a CPU: short recordings only
    long = _upload(client, _file(_recording(11.0, 8000, 1), 8000))
    assert translate({"recording": long["id"], "targets": ["sine"]}, 422, WAVENET) == (
        f"Model '{WAVENET}' has WaveNet decoders (slow on a CPU): the booth translates at most "
        "10 s with it, and this recording lasts 11 s; upload a shorter one or use a note-bank model."
    )
    invalid = client.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert _error(invalid, 422) == "The request body is not valid JSON."
    # jobs are looked up by id, never by path
    assert _error(client.get("/api/booth/jobs/..passwd"), 422) == (
        "A job id is the 16 hex digits the translate request returned."
    )
    assert _error(client.get(f"/api/booth/jobs/{'f' * 16}/sine.wav"), 404).startswith(
        f"No translation job '{'f' * 16}'"
    )
    assert "Nothing here" in _error(client.get("/api/booth/jobs/..%2F..%2Fetc/sine.wav"), 404)
    job = client.post(url, json={"recording": rec["id"], "targets": ["sine"]}).json()
    assert _error(client.get(f"/api/booth/jobs/{job['job']}/tuba.wav"), 404) == (
        f"Job {job['job']} has no target 'tuba' (it translates to: sine)."
    )
    assert _finish(client, job["job"])[0]["state"] == "done"
    assert client.get("/api/models").status_code == 200  # and the server keeps answering


@pytest.mark.parametrize("shipped", [False, True])
def test_no_translation_model_is_one_sentence(
    models,
    monkeypatch: pytest.MonkeyPatch,
    shipped: bool,  # noqa: ANN001
) -> None:
    import latentmusic.catalogue as catalogue

    fake = [dataclasses.make_dataclass("M", ["name", "family"])("translation-notegrid", "translation")]  # fmt: skip
    monkeypatch.setattr(catalogue, "shipped_models", lambda: fake if shipped else [])
    if shipped:
        sentence = (
            "No translation model is served: start the studio with --models translation-notegrid "
            "(shipped here) or --models RUN naming a translation checkpoint you trained."
        )
    else:
        sentence = (
            "No translation model is served: start the studio with --models RUN naming a "
            "translation checkpoint you trained (`latentmusic train translation --data DIR "
            "--preset notegrid`)."
        )
    only_drums = {DRUMS: models[DRUMS]}
    with TestClient(create_app(only_drums), raise_server_exceptions=False) as client:
        assert client.get("/api/models").json()["notes"]["translation"] == sentence
        for name in ("translation-notegrid", DRUMS):
            response = client.post(
                f"/api/models/{name}/translate", json={"recording": "0" * 16, "targets": ["sine"]}
            )
            assert _error(response, 404) == sentence
        assert client.get("/booth").status_code == 200


# --------------------------------------------------------------------- in a browser
@pytest.fixture(scope="module")
def server(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`latentmusic studio --port 0` on the note-bank translator alone."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(NO_CHROMIUM)
    with studio_server(tmp_path_factory.mktemp("booth-server"), [runs[NOTEBANK]]) as server:
        yield server


def test_the_booth_in_a_browser(browser, server: dict, tmp_path: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.keys import Keys

    _open(browser, server, "booth")
    boxes = browser.find_elements("css selector", "#targets input[type=checkbox]")
    assert [b.get_attribute("value") for b in boxes] == DOMAINS
    assert [b.is_selected() for b in boxes] == [True, False, False]
    assert browser.find_element("id", "translate").get_attribute("disabled") is not None
    assert browser.find_element("id", "pick").get_attribute("tabindex") == "0"  # keyboard

    stereo = _recording(1.0)
    n = stereo.shape[0]
    path = tmp_path / "My Take.wav"
    path.write_bytes(_file(stereo, RATE))
    browser.find_element("id", "file").send_keys(str(path))
    _wait(browser, "Studio.state.booth.recording", what="the upload")
    info = browser.find_element("id", "recording-info").text
    assert info == "My Take.wav: 1.0 s at 44100 Hz, 2 channels (mixed to mono), WAV."
    browser.find_element("css selector", 'label[for="target-2"]').click()  # tick "saw"
    translate = browser.find_element("id", "translate")
    assert translate.get_attribute("disabled") is None
    translate.send_keys(Keys.SPACE)  # the keyboard presses it
    job = _wait(browser, "Studio.state.booth.job && Studio.state.booth.job.job", what="a job")
    done = _wait(
        browser,
        "Studio.state.booth.job.state !== 'running' && Studio.state.booth.job.state !== 'queued'"
        " && Studio.state.booth.job",
        900,
        "the translation",
    )
    assert done["state"] == "done" and done["job"] == job
    assert [t["domain"] for t in done["targets"]] == ["sine", "saw"]
    assert [t["samples"] for t in done["targets"]] == [n, n]
    # the first instrument played as it streamed: every sample fetched and scheduled
    live = _wait(
        browser,
        "(l => l.next === l.total && {domain: l.domain, samples: l.samples, total: l.total,"
        " chunks: l.chunks})(Studio.state.booth.live)",
        120,
        "the live playback",
    )
    assert (live["domain"], live["samples"], live["total"]) == ("sine", n, n)
    assert live["chunks"] >= 1
    # a player per finished translation, as long as the recording
    durations = _wait(
        browser,
        "Object.keys(Studio.state.booth.results).length === 2 && Studio.state.booth.results",
        60,
        "both players",
    )
    for domain in ("sine", "saw"):
        assert durations[domain]["duration"] == pytest.approx(n / RATE, abs=1e-3)
        card = browser.find_element("css selector", f'#results .corner[data-domain="{domain}"]')
        assert card.get_attribute("data-state") == "done"
        assert card.find_element("css selector", "progress").get_attribute("value") == "1"
    assert browser.find_element("id", "status").text.startswith(
        "Done: 2 translation(s) of My-Take (1.0 s at 44100 Hz)"
    )
    # download the saw translation: a WAV at the recording's rate and length
    link = browser.find_element("css selector", '#results .corner[data-domain="saw"] a.download')
    assert link.get_attribute("download") == "My-Take-saw.wav"
    link.click()
    saved = _download(browser, "My-Take-saw.wav")
    meta = sf.info(str(saved))
    assert (meta.samplerate, meta.frames, meta.channels) == (RATE, n, 1)
    audio = sf.read(str(saved), dtype="float32")[0]
    assert np.isfinite(audio).all() and np.sqrt(np.mean(audio**2)) > 1e-3
    _shot(browser, "translation-booth.png")
    _no_errors(browser)
