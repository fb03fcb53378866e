"""A toy family used by the harness tests: linear regression with a known optimum."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from latentmusic.train.checkpoint import save_checkpoint
from latentmusic.train.config import config_to_dict
from latentmusic.train.harness import FamilyModule

TRUE_W = torch.tensor([2.0, -3.0, 0.5])


@dataclass(frozen=True)
class ToyConfig:
    features: int = 3
    lr: float = 0.05


class ToyData(torch.utils.data.Dataset):
    """y = x·w + noise; the noise uses the global RNG, as real augmentation does."""

    def __init__(self, n: int = 256, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 3, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        noise = float(np.random.normal(0.0, 0.05))
        return {"x": self.x[i], "y": self.x[i] @ TRUE_W + noise}


class ToyModule(FamilyModule):
    def __init__(self, config: ToyConfig = ToyConfig()) -> None:
        super().__init__()
        self.config = config
        self.model = torch.nn.Linear(config.features, 1, bias=False)
        torch.nn.init.zeros_(self.model.weight)
        self.losses: list[float] = []

    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        pred = self.model(batch["x"]).squeeze(-1)
        loss = torch.nn.functional.mse_loss(pred, batch["y"])
        self.losses.append(float(loss.detach()))
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        loss = torch.nn.functional.mse_loss(self.model(batch["x"]).squeeze(-1), batch["y"])
        self.log("val/loss", loss)

    def configure_optimizers(self):  # noqa: ANN201
        return torch.optim.Adam(self.parameters(), lr=self.config.lr)

    def export_checkpoint(self, directory: Path, meta: dict) -> None:
        save_checkpoint(
            directory,
            self.model,
            family="toy",
            model_type="linear",
            preset="toy",
            config=config_to_dict(self.config),
            meta=meta,
        )
