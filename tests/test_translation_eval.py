"""Translation evaluation against paired ground truth, with baselines and a held-out domain."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from latentmusic.data.domains import DomainAudioSet
from latentmusic.errors import InputError
from latentmusic.evaluation import EvalJob
from latentmusic.train.harness import TrainJob
from latentmusic.translation.evaluate import chroma_similarity, evaluate, parse_options
from latentmusic.translation.train import train
from tests.conftest import SR, make_domains, wave
from tests.test_translation_train import _settings


def test_chroma_similarity_hears_notes_not_timbre() -> None:
    a = wave("sine", [261.6, 329.6], 0.5)
    same_notes = wave("square", [261.6, 329.6], 0.5)
    other_notes = wave("sine", [370.0, 466.2], 0.5)
    assert chroma_similarity(a, a, SR) == pytest.approx(1.0, abs=1e-6)
    assert chroma_similarity(a, same_notes, SR) > chroma_similarity(a, other_notes, SR) + 0.2


def test_unknown_option_is_one_clear_error() -> None:
    with pytest.raises(
        InputError, match="Unknown translation eval option 'pieces'; known options: max_pieces"
    ):
        parse_options({"pieces": "3"})
    with pytest.raises(
        InputError, match="translation eval option 'seconds' must be a number, not 'long'"
    ):
        parse_options({"seconds": "long"})


def test_evaluate_with_ground_truth_baselines_and_heldout_domain(tmp_path: Path) -> None:
    # The model learns sine and square; saw is in the data but never trained on: held out.
    data = make_domains(tmp_path / "data", kinds=("sine", "square", "saw"), pieces=5)
    train_only = make_domains(tmp_path / "train_data", kinds=("sine", "square"), pieces=5)
    run = train(TrainJob(train_only, _settings(tmp_path / "run", max_steps=3), "tiny"))
    ablation = train(
        TrainJob(
            train_only,
            _settings(tmp_path / "noconf", max_steps=3),
            "tiny",
            None,
            ("confusion_lambda=0",),
        )
    )
    # A folder of another unseen instrument outside the data, paired by file name.
    triangle = make_domains(tmp_path / "extra", kinds=("triangle",), pieces=5) / "triangle"
    options = {
        "heldout": str(triangle),
        "max_pieces": "1",
        "seconds": "0.5",
        "offset": "0.2",
        "classifier_files": "4",
        "classifier_crops": "3",
    }
    results = evaluate(EvalJob(run, data, "test", tmp_path / "report", [ablation], options))

    assert set(results["systems"]) == {"model", "input (untranslated)", "noconf"}
    assert results["heldout_domains"] == ["saw", "triangle"]
    assert set(results["heldout"]) == {"model", "input (untranslated)", "noconf"}
    # The judge knows the real instruments; the untranslated input is never the target.
    assert results["classifier"]["classes"] == ["saw", "sine", "square"]
    assert results["classifier"]["accuracy_on_real_test_audio"] >= 0.9
    untranslated = results["systems"]["input (untranslated)"]
    assert untranslated["target_accuracy"] <= 0.5
    # The input plays the same notes as the ground truth, so its chroma is close to it.
    assert untranslated["chroma_similarity"] > 0.8
    for block in (results["systems"], results["heldout"]):
        for row in block.values():
            assert row["n"] >= 1
            assert 0.0 <= row["target_accuracy"] <= 1.0
            assert -1.0 <= row["chroma_similarity"] <= 1.0 and math.isfinite(
                row["spectral_distance"]
            )
    # One source -> target pair per direction between the trained domains.
    assert set(results["pairs"]) == {"sine -> square", "square -> sine"}

    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    assert saved["systems"] == results["systems"] and len(saved["records"]) > 0
    # The outside folder was paired with the data's test pieces, so it has ground truth.
    test_pieces = {
        DomainAudioSet(data, split="test").piece_of(p)
        for p in DomainAudioSet(data, split="test").files("sine")
    }
    triangle_rows = [r for r in saved["records"] if r["source"] == "triangle"]
    assert triangle_rows and all(
        "chroma_similarity" in r and r["piece"] in test_pieces for r in triangle_rows
    )
    page = (tmp_path / "report" / "index.html").read_text()
    assert (
        page.count("<audio") >= 3
        and "ground truth" in page
        and "Unseen input domains (saw, triangle)" in page
    )
    for example in results["examples"]:
        for key in ("input", "translation", "ground_truth"):
            audio = np.asarray(__import__("soundfile").read(tmp_path / "report" / example[key])[0])
            assert len(audio) == 8000  # 0.5 s at 16 kHz, rounded to whole latent frames
