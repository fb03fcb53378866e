"""What ``latentmusic eval FAMILY`` asks of a family, as one record.

Every family's ``evaluate(job) -> dict`` takes an :class:`EvalJob` and writes
``job.out/results.json`` and ``job.out/index.html`` (built with :mod:`latentmusic.report`);
``job.options`` are parsed into the family's typed ``EvalOptions`` by
``train.config.parse_options``. One record keeps the CLI, the demo and the tests calling
every family the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class EvalJob:
    model: Path  # the model to evaluate (a run directory or a shipped name)
    data: Path
    split: str
    out: Path  # the report directory
    baselines: Sequence[Path] = ()  # other models measured the same way, side by side
    options: Mapping[str, str] = field(default_factory=dict)  # --option key=value
