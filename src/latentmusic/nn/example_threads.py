"""Split a training batch's examples over threads that each run single-threaded kernels.

Why: the WaveNet decoder's whole-batch GEMMs (K = 64-128) stream 8-16 MB operands through
memory and gain little from a second core: its layers' forward took 300 ms on two threads
against 450 on one. One example's activations (1-2 MB a layer) stay in cache between a
layer's GEMMs and its gate, and two threads with one example at a time keep both cores on
that cache-resident work: 215 ms for the same forward. Used by
:mod:`latentmusic.nn.gated_stack` in its forward and backward passes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch


def groups(batch: int, workers: int) -> list[range]:
    """The examples 0 .. batch - 1 in ``min(workers, batch)`` contiguous runs of near-equal size."""
    n = max(1, min(workers, batch))
    return [range(k * batch // n, (k + 1) * batch // n) for k in range(n)]


def run(task: Callable[[int], None], n: int) -> None:
    """task(0) .. task(n - 1), one per thread, each with single-threaded torch kernels and
    the caller's grad mode (both are per thread). torch's thread count is process-wide for
    its BLAS, so the caller's count is restored after. ``n`` = 1 runs in the caller.

    Fresh threads each call, ended after it: threads kept in a pool between calls left
    the next whole-batch ops on one core (measured: a VQ-VAE step on two threads went from
    1.1 to 1.65 s after a translation step had run the WaveNet stacks here)."""
    if n == 1:
        task(0)
        return
    threads = torch.get_num_threads()
    grad_mode = torch.is_grad_enabled()  # off inside an autograd function's passes
    errors: list[BaseException] = []

    def one(k: int) -> None:
        try:
            torch.set_num_threads(1)
            with torch.set_grad_enabled(grad_mode):
                task(k)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller below
            errors.append(error)

    workers = [threading.Thread(target=one, args=(k,)) for k in range(1, n)]
    try:
        for worker in workers:
            worker.start()
        one(0)  # the caller's thread takes the first share
    finally:
        for worker in workers:
            worker.join()
        torch.set_num_threads(threads)
    if errors:
        raise errors[0]


def summed(per_thread: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Each thread's list of gradient sums added into the first thread's, which is returned."""
    total = per_thread[0]
    for other in per_thread[1:]:
        for acc, part in zip(total, other, strict=True):
            acc.add_(part)
    return total
