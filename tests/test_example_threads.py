"""Splitting a batch's examples over threads (latentmusic.nn.example_threads): every example
once, errors reach the caller, torch's thread count and the threads come back as they were."""

from __future__ import annotations

import pytest
import torch

from latentmusic.nn import example_threads


def test_examples_are_split_over_the_threads_without_gaps() -> None:
    assert example_threads.groups(3, 2) == [range(0, 1), range(1, 3)]
    assert example_threads.groups(8, 2) == [range(0, 4), range(4, 8)]
    assert example_threads.groups(2, 4) == [range(0, 1), range(1, 2)]
    assert example_threads.groups(5, 1) == [range(0, 5)]


def test_a_failing_thread_raises_in_the_caller_and_the_thread_count_comes_back() -> None:
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:

        def task(k: int) -> None:
            assert torch.get_num_threads() == 1  # each thread runs single-threaded kernels
            if k == 1:
                raise RuntimeError("thread 1 failed")

        with pytest.raises(RuntimeError, match="thread 1 failed"):
            example_threads.run(task, 2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)


def test_the_threads_end_with_the_call() -> None:
    """Threads kept between calls left later whole-batch ops on one core (docs/performance.md)."""
    import threading

    before = threading.active_count()
    seen: list[str] = []
    example_threads.run(lambda k: seen.append(threading.current_thread().name), 3)
    assert len(seen) == 3 and len(set(seen)) == 3  # three threads, the caller's among them
    assert threading.current_thread().name in seen
    assert threading.active_count() == before
