"""The domain-confusion network and the adversarial losses of Universal Music Translation.

The network guesses from the shared latents which domain a clip came from. The
autoencoder is trained to make that guess fail (the negated cross-entropy, weighted by
lambda), so the latents carry *what is played* and the per-domain decoders supply *how it
sounds*. As in the official code, the classifier is 1x1 convs (no temporal context) whose
per-frame logits are averaged over time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DomainConfusion(nn.Module):
    """``layers`` x (1x1 conv to ``channels`` + ELU), 1x1 to ``n_domains`` logits, mean over time."""

    def __init__(
        self,
        latent_dim: int,
        n_domains: int,
        channels: int = 100,
        layers: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers):
            blocks += [nn.Conv1d(width, channels, 1), nn.ELU()]
            width = channels
        self.dropout = nn.Dropout(dropout)
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv1d(width, n_domains, 1)

    @property
    def n_domains(self) -> int:
        return self.head.out_channels

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim, F) latents -> (B, n_domains) logits."""
        return self.head(self.body(self.dropout(latents))).mean(dim=2)

    def grow(self, n_new: int = 1) -> None:
        """Add output classes for new domains, keeping the logits of the known ones."""
        old = self.head
        head = nn.Conv1d(old.in_channels, old.out_channels + n_new, 1)
        with torch.no_grad():
            head.weight[: old.out_channels].copy_(old.weight)
            head.bias[: old.out_channels].copy_(old.bias)
        self.head = head.to(old.weight.device, old.weight.dtype)


def confusion_losses(
    confusion: DomainConfusion, latents: torch.Tensor, domains: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two halves of the adversarial game, from one forward pass of the encoder.

    Returns ``(adversarial_ce, classifier_ce, accuracy)``:

    - ``adversarial_ce`` is the cross-entropy of the classifier *frozen* (its weights
      detached) on the live latents: its gradient reaches only the encoder, which the
      autoencoder loss pushes to *raise* it (``loss = recon - lambda * adversarial_ce``).
    - ``classifier_ce`` is the cross-entropy of the live classifier on *detached* latents:
      its gradient reaches only the classifier (its own classification step).

    Summing both into one loss and taking one optimiser step is exactly the paper's
    alternation (autoencoder step, then classifier step on the same latents), because
    neither term's gradient touches the other's parameters; one backward pass also keeps
    DDP and Lightning's step counter simple.
    """
    frozen = {name: p.detach() for name, p in confusion.named_parameters()}
    adv_logits = torch.func.functional_call(confusion, frozen, (latents,))
    adversarial_ce = F.cross_entropy(adv_logits, domains)
    cls_logits = confusion(latents.detach())
    classifier_ce = F.cross_entropy(cls_logits, domains)
    accuracy = (cls_logits.argmax(dim=1) == domains).float().mean()
    return adversarial_ce, classifier_ce, accuracy.detach()
