"""The one progress bar: silent when disabled, on stderr (never stdout) when enabled."""

from __future__ import annotations

import pytest

from latentmusic.progress import progress_bar


def test_a_disabled_bar_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(3, "encoding", "file", enabled=False) as bar:
        for _ in range(3):
            bar.update(1)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_an_enabled_bar_counts_on_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(3, "encoding", "file", leave=True) as bar:
        for _ in range(3):
            bar.update(1)
    out, err = capsys.readouterr()
    assert out == ""
    assert "encoding" in err and "3/3" in err and "file" in err
