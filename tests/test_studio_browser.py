"""End to end: `latentmusic studio` in a subprocess, driven by headless Chromium (Debian's
``chromium`` + ``chromium-driver``, set up by scripts/setup.sh) through selenium.

Each page is loaded, its main interaction performed with the mouse as a person would (drag
the Melody Mixer steps slider, click a loop into the Latent Loops grid, drag the Beat Blender
puck, move on the NSynth pad), and what the page shows is checked against what the API
returned. Screenshots of the pages go to docs/studio/ only when asked
(``LATENTMUSIC_SCREENSHOTS=1``), so an ordinary run leaves the working tree alone.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pretty_midi
import pytest

from tests.conftest import CHROMEDRIVER, CHROMIUM, NO_CHROMIUM, studio_server
from tests.test_studio_api import tiny_studio_run

SHOTS = Path(__file__).resolve().parents[1] / "docs" / "studio"
WRITE_SHOTS = os.environ.get("LATENTMUSIC_SCREENSHOTS") == "1"
NSYNTH = "nsynth-harmonic"  # the shipped fast NSynth model, for the pad

pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_CHROMIUM)


def _untrained_drum_model(path: Path) -> Path:
    """A drums MusicVAE with its initial random weights, never trained: it decodes beats
    through the same code as a trained one, so Beat Blender's mechanics can be tested
    while no drum model is shipped."""
    import torch

    from latentmusic.musicvae.config import PRESETS
    from latentmusic.musicvae.model import FAMILY, MusicVAE
    from latentmusic.musicvae.train import checkpoint_extra
    from latentmusic.train.checkpoint import save_checkpoint
    from latentmusic.train.config import config_to_dict

    torch.manual_seed(0)
    config = dataclasses.replace(PRESETS["tiny"], representation="drums")
    model = MusicVAE(config)
    return save_checkpoint(
        path,
        model,
        family=FAMILY,
        model_type=config.model_type,
        preset="tiny",
        config=config_to_dict(config),
        extra=checkpoint_extra(config),
        meta={"steps": 0, "summary": "untrained (random weights), for tests"},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`latentmusic studio --port 0` on the tiny melody model, an untrained drum model and
    (where it is shipped) the NSynth model."""
    from latentmusic.catalogue import shipped_names

    root = tmp_path_factory.mktemp("studio-server")
    drums = _untrained_drum_model(root / "drums-untrained")
    nsynth = NSYNTH in shipped_names()
    models = [tiny_studio_run(), drums] + ([NSYNTH] if nsynth else [])
    with studio_server(root, models) as server:
        yield {**server, "nsynth": nsynth}


# ------------------------------------------------------------------------------ helpers
def _wait(driver, script: str, timeout: float = 60.0, what: str = ""):  # noqa: ANN001, ANN202
    """Poll a JavaScript expression until it is truthy; return its value."""
    end = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > end:
            status = driver.execute_script(
                "const s = document.querySelector('#status'); return s && s.textContent;"
            )
            raise AssertionError(f"timed out waiting for {what or script} (status: {status})")
        time.sleep(0.1)


def _open(driver, server: dict, page: str) -> None:  # noqa: ANN001
    driver.get_log("browser")  # what earlier tests left (a refused upload logs a 422)
    driver.get(f"{server['url']}/{page}")
    _wait(driver, "document.body.dataset.ready === 'true'", what=f"{page} to be ready")


def _post(server: dict, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        server["url"] + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _notes(melody: dict) -> list[tuple[int, int, int]]:
    return [(n["pitch"], n["start"], n["end"]) for n in melody["notes"]]


def _download(driver, name: str, timeout: float = 20.0) -> Path:  # noqa: ANN001
    path = driver.downloads / name
    end = time.monotonic() + timeout
    while not path.is_file() or path.with_name(name + ".crdownload").exists():
        if time.monotonic() > end:
            raise AssertionError(
                f"{name} was not downloaded (have: {os.listdir(driver.downloads)})"
            )
        time.sleep(0.1)
    time.sleep(0.2)
    return path


def _no_errors(driver) -> None:  # noqa: ANN001
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def _shot(driver, name: str) -> None:  # noqa: ANN001
    """The whole page (not only the window) as a PNG in docs/studio/, when asked for
    (LATENTMUSIC_SCREENSHOTS=1)."""
    if not WRITE_SHOTS:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 2400), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    (SHOTS / name).write_bytes(base64.b64decode(shot["data"]))


# -------------------------------------------------------------------------------- pages
def test_home_lists_the_served_models(browser, server: dict) -> None:  # noqa: ANN001
    browser.get(server["url"] + "/")
    served = 3 if server["nsynth"] else 2
    _wait(browser, f"document.querySelectorAll('#models tbody tr').length === {served}")
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#models tbody tr')].map(r => r.textContent)"
    )
    assert any("run" in r and "melody" in r for r in rows)
    assert any("drums-untrained" in r and "drums" in r for r in rows)
    _shot(browser, "home.png")
    _no_errors(browser)


def test_melody_mixer_drag_steps_play_export_render(browser, server: dict) -> None:  # noqa: ANN001
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, server, "mixer")
    _wait(browser, "Studio.state.mixer.morph && Studio.state.mixer.morph.melodies.length === 8")
    assert browser.find_element("id", "morph").get_attribute("data-melodies") == "8"
    assert browser.find_element("id", "status").text.startswith("8 melodies")

    # drag the steps slider to the left end: the page asks for the shorter morph and draws it
    slider = browser.find_element("id", "steps")
    width = slider.size["width"]
    ActionChains(browser).click_and_hold(slider).move_by_offset(
        -width // 2 - 10, 0
    ).release().perform()
    _wait(browser, "document.querySelector('#steps').value === '2'", what="the slider at 2")
    _wait(browser, "Studio.state.mixer.morph.melodies.length === 2", what="a 2-step morph")
    # then to 5 (keyboard: three steps right)
    from selenium.webdriver.common.keys import Keys

    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    _wait(browser, "Studio.state.mixer.morph.melodies.length === 5", what="a 5-step morph")
    assert browser.find_element("id", "steps-out").text == "5"
    assert browser.find_element("id", "morph").get_attribute("data-melodies") == "5"
    shown = browser.execute_script("return Studio.state.mixer.morph.melodies")
    presets = _post(server, "/api/models/run/interpolate", {"melodies": [
        browser.execute_script("return Studio.state.mixer.a"),
        browser.execute_script("return Studio.state.mixer.b"),
    ], "steps": 5})["melodies"]  # fmt: skip
    assert [_notes(m) for m in shown] == [_notes(m) for m in presets]
    total = sum(len(m["notes"]) for m in shown)
    assert browser.find_element("id", "morph").get_attribute("data-notes") == str(total)

    # play: the playhead moves along the morph; stop ends it
    browser.find_element("id", "play").click()
    _wait(
        browser,
        "Number(document.querySelector('#morph').dataset.playhead || 0) > 2",
        20,
        "the playhead to move",
    )
    browser.find_element("id", "stop").click()
    assert browser.find_element("id", "morph").get_attribute("data-playing") == "false"

    # export: the downloaded MIDI holds every note of the morph
    browser.find_element("id", "export").click()
    midi = _download(browser, "melody-morph-5.mid")
    pm = pretty_midi.PrettyMIDI(str(midi))
    assert sum(len(i.notes) for i in pm.instruments) == total > 0

    # the server's FluidSynth rendering plays in an <audio> element: 5 x 2 bars at 120 qpm
    browser.find_element("id", "render").click()
    seconds = _wait(browser, "Studio.state.mixer.wavSeconds", 60, "the rendered WAV")
    assert 20.0 <= seconds <= 21.0
    _shot(browser, "melody-mixer.png")
    _no_errors(browser)


def test_melody_mixer_upload(browser, server: dict, tmp_path: Path) -> None:  # noqa: ANN001
    from latentmusic.studio.melodies import MELODY_PRESETS, midi_bytes, sequence_from_json

    _open(browser, server, "mixer")
    tune = MELODY_PRESETS[5]["melody"]
    path = tmp_path / "riff.mid"
    path.write_bytes(midi_bytes(sequence_from_json(tune)))
    browser.find_element("id", "file-b").send_keys(str(path))
    _wait(browser, "document.querySelector('#preset-b').value === 'upload'", what="the upload")
    assert _notes(browser.execute_script("return Studio.state.mixer.b")) == _notes(tune)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file at all")
    browser.find_element("id", "file-a").send_keys(str(bad))
    _wait(browser, "document.querySelector('#status').dataset.kind === 'error'", what="an error")
    assert "not a MIDI file" in browser.find_element("id", "status").text


def test_latent_loops_sketch_palette_timeline_export(browser, server: dict) -> None:  # noqa: ANN001
    _open(browser, server, "loops")
    _wait(
        browser, "Studio.state.loops.palette && Studio.state.loops.palette.melodies.length === 25"
    )

    # sketch a loop by clicking cells (rows are scale degrees of C major from C4)
    clicks = [(0, 0), (2, 4), (4, 8), (7, 12), (4, 16), (5, 18), (2, 24), (1, 28)]
    for row, step in clicks:
        browser.find_element(
            "css selector", f'#sketch .cell[data-row="{row}"][data-step="{step}"]'
        ).click()
    assert browser.find_element("id", "sketch").get_attribute("data-notes") == str(len(clicks))
    pressed = browser.find_elements("css selector", '#sketch .cell[aria-pressed="true"]')
    assert len(pressed) == len(clicks)
    browser.find_element("css selector", '.corner[data-corner="0"] .use-sketch').click()
    sketch = browser.execute_script("return Studio.state.loops.corners[0]")
    assert [(n["pitch"], n["start"]) for n in sketch["notes"]] == [
        (60, 0), (64, 4), (67, 8), (72, 12), (67, 16), (69, 18), (64, 24), (62, 28),
    ]  # fmt: skip
    # locked to the scale: in D dorian the same rows are D dorian notes
    browser.execute_script(
        "const t = document.querySelector('#tonic'); t.value = '2'; t.dispatchEvent(new Event('change'));"
        "const s = document.querySelector('#scale'); s.value = 'dorian'; s.dispatchEvent(new Event('change'));"
    )
    labels = browser.execute_script(
        "return [...document.querySelectorAll('#sketch .label')].map(l => l.textContent)"
    )
    assert labels[-1] == "D4" and labels[0] == "D6" and "F4" in labels and "F#4" not in labels
    assert browser.find_element("id", "sketch").get_attribute("data-notes") == str(len(clicks))

    # a 3 x 3 palette whose top-left corner is the model's reading of the sketch
    browser.execute_script(
        "const s = document.querySelector('#size'); s.value = '3'; s.dispatchEvent(new Event('change'));"
    )
    browser.find_element("id", "generate").click()
    _wait(browser, "Studio.state.loops.palette.melodies.length === 9", what="a 3 x 3 palette")
    assert browser.find_element("id", "palette").get_attribute("data-count") == "9"
    palette = browser.execute_script("return Studio.state.loops.palette.melodies")
    corners = browser.execute_script("return Studio.state.loops.corners")
    recon = _post(server, "/api/models/run/reconstruct", {"melodies": corners})["melodies"]
    for corner, index in zip(recon, (0, 2, 6, 8), strict=True):
        assert _notes(palette[index]) == _notes(corner)

    # drag a loop to the timeline (HTML5 drag and drop events), add another with the button
    browser.execute_script(
        "const item = document.querySelector('#palette .item[data-index=\"4\"]');"
        "const target = document.querySelector('#timeline');"
        "const data = new DataTransfer();"
        "item.dispatchEvent(new DragEvent('dragstart', {dataTransfer: data, bubbles: true}));"
        "target.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true, cancelable: true}));"
        "target.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));"
    )
    browser.find_element("css selector", '#palette .item[data-index="8"]').click()
    browser.find_element("id", "add").click()
    timeline = browser.find_element("id", "timeline")
    assert timeline.get_attribute("data-count") == "2"
    loops = browser.execute_script("return Studio.state.loops.timeline")
    snapped = browser.execute_script(
        "return [4, 8].map(i => Studio.snapMelody(Studio.state.loops.palette.melodies[i], 2, 'dorian'))"
    )
    assert [_notes(m) for m in loops] == [_notes(m) for m in snapped]

    browser.find_element("id", "play").click()
    _wait(
        browser,
        "Number(document.querySelector('#timeline').dataset.step || 0) > 2",
        20,
        "the timeline to play",
    )
    browser.find_element("id", "stop").click()

    browser.find_element("id", "export").click()
    midi = _download(browser, "latent-loops.mid")
    pm = pretty_midi.PrettyMIDI(str(midi))
    notes = [n for inst in pm.instruments for n in inst.notes]
    assert len(notes) == sum(len(m["notes"]) for m in loops)
    assert all(n.pitch % 12 in {2, 4, 5, 7, 9, 11, 0} for n in notes)  # D dorian
    _shot(browser, "latent-loops.png")
    _no_errors(browser)


def test_beat_blender_puck(browser, server: dict) -> None:  # noqa: ANN001
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, server, "blender")
    _wait(
        browser,
        "Studio.state.blender.palette && Studio.state.blender.palette.melodies.length === 121",
    )
    pad = browser.find_element("id", "pad")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    size = pad.size
    cell_w, cell_h = size["width"] / 11, size["height"] / 11
    # press on cell (1, 1), drag to cell (7, 4)
    center = 5.5  # offsets are from the pad's centre, in cells
    ActionChains(browser).move_to_element_with_offset(
        pad, round((1.5 - center) * cell_w), round((1.5 - center) * cell_h)
    ).click_and_hold().move_to_element_with_offset(
        pad, round((7.5 - center) * cell_w), round((4.5 - center) * cell_h)
    ).release().perform()
    assert (pad.get_attribute("data-x"), pad.get_attribute("data-y")) == ("7", "4")
    assert browser.find_element("id", "beat").get_attribute("data-index") == str(4 * 11 + 7)
    page = browser.execute_script("return Studio.state.blender")
    grid = _post(
        server, "/api/models/drums-untrained/grid", {"corners": page["corners"], "size": 11}
    )
    assert [_notes(m) for m in grid["melodies"]] == [_notes(m) for m in page["palette"]["melodies"]]
    shown = browser.find_element("id", "beat").get_attribute("data-notes")
    assert shown == str(len(grid["melodies"][4 * 11 + 7]["notes"]))
    assert all(n["drum"] for m in grid["melodies"] for n in m["notes"])
    pad.send_keys("\ue014")  # arrow right
    assert pad.get_attribute("data-x") == "8"
    _shot(browser, "beat-blender.png")
    _no_errors(browser)


def test_nsynth_pad_move_and_play(browser, server: dict) -> None:  # noqa: ANN001
    from selenium.webdriver.common.action_chains import ActionChains

    if not server["nsynth"]:
        pytest.skip(f"the {NSYNTH} model is not shipped here")
    _open(browser, server, "pad")
    _wait(browser, "Studio.state.pad.cells === 25", what="the 5 x 5 pad's sounds")
    page = browser.execute_script("return Studio.state.pad")
    info = page["pad"]
    assert (info["model"], info["size"], info["pitch"], info["cells"]) == (NSYNTH, 5, 60, 25)
    pad = browser.find_element("id", "pad")
    assert pad.get_attribute("data-key") == info["key"]
    assert (
        browser.find_element("css selector", "#keyboard .key[aria-pressed='true']").get_attribute(
            "data-pitch"
        )
        == "60"
    )
    # the page asked for exactly this pad: the API gives the same one, from its cache
    again = _post(
        server, f"/api/models/{NSYNTH}/pad", {"corners": page["corners"], "pitch": 60, "size": 5}
    )
    assert again["cached"] is True and again["key"] == info["key"]
    with urllib.request.urlopen(server["url"] + info["audio"], timeout=60) as response:
        wav = response.read()
    assert len(wav) == 44 + 2 * 25 * info["cell_samples"]  # 16-bit mono, every cell end to end

    # press near the top left, drag to the middle of cell (row 1, column 3), release: the
    # sound under the finger plays, its four neighbours' weights sum to 1
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    size = pad.size
    cell_w, cell_h = size["width"] / 5, size["height"] / 5
    ActionChains(browser).move_to_element_with_offset(
        pad, round((0.5 - 2.5) * cell_w), round((0.5 - 2.5) * cell_h)
    ).click_and_hold().pause(0.2).move_to_element_with_offset(
        pad, round((3.4 - 2.5) * cell_w), round((1.6 - 2.5) * cell_h)
    ).pause(0.2).release().perform()
    played = browser.execute_script("return Studio.state.pad.played")
    assert played[0] == {"pitch": 60, "key": info["key"], "row": 0, "col": 0}
    assert (pad.get_attribute("data-row"), pad.get_attribute("data-col")) == ("1", "3")
    weights = browser.execute_script("return Studio.state.pad.weights")
    assert len(weights) == 25 and abs(sum(weights) - 1) < 1e-6
    assert sum(w > 0 for w in weights) <= 4 and weights.index(max(weights)) == 1 * 5 + 3
    # the rainbowgram of the nearest cell is what the API serves for that cell
    _wait(
        browser,
        "document.querySelector('#rainbowgram').dataset.cell === '1,3'",
        60,
        "the rainbowgram",
    )
    shown = browser.find_element("id", "rainbowgram")
    assert shown.get_attribute("src").endswith(f"/api/pads/{info['key']}/rainbowgram/1/3.png")
    assert browser.execute_script("return document.querySelector('#rainbowgram').naturalWidth") > 50
    # arrow keys move a quarter of a cell; four to the right reach column 4
    x = float(pad.get_attribute("data-x"))
    pad.send_keys(*["\ue014"] * 4)
    assert float(pad.get_attribute("data-x")) == pytest.approx(min(1.0, x + 0.25), abs=2e-3)
    assert pad.get_attribute("data-col") == "4"
    _wait(
        browser,
        "document.querySelector('#rainbowgram').dataset.cell === '1,4'",
        60,
        "the next rainbowgram",
    )

    # another key of the keyboard: a new pad at that pitch, rendered by the server once
    browser.find_element("css selector", "#keyboard .key[data-pitch='64']").click()
    _wait(
        browser,
        "Studio.state.pad.pad.pitch === 64 && Studio.state.pad.cells === 25",
        60,
        "the pad at E4",
    )
    rendered = browser.execute_script("return Studio.state.pad.rendered")
    assert [r["pitch"] for r in rendered] == [60, 64] and rendered[1]["cached"] is False
    assert pad.get_attribute("data-key") == rendered[1]["key"] != info["key"]
    assert browser.find_element("id", "status").text.startswith("25 sounds at E4")
    _shot(browser, "nsynth-pad.png")
    _no_errors(browser)


def test_a_bad_request_does_not_stop_the_server(server: dict) -> None:
    request = urllib.request.Request(
        server["url"] + "/api/models/run/interpolate",
        b"{not json",
        {"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 422 and "not valid JSON" in json.loads(info.value.read())["error"]
    request = urllib.request.Request(server["url"] + "/api/files/..%2F..%2Fetc%2Fpasswd")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert 400 <= info.value.code < 500
    # a Host header other than localhost is refused (DNS rebinding)
    request = urllib.request.Request(
        server["url"] + "/api/models", headers={"Host": "evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 400 and "localhost" in json.loads(info.value.read())["error"]
    assert server["proc"].poll() is None
    with urllib.request.urlopen(server["url"] + "/api/models", timeout=30) as response:
        assert len(json.loads(response.read())["models"]) == (3 if server["nsynth"] else 2)
