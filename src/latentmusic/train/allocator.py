"""Keep freed memory inside the training process (glibc's allocator only).

By default glibc hands every freed block of more than 128 KiB straight back to the kernel
(``munmap``, heap trimming). A training step frees and reallocates the same large
activations every time, so each step page-faults them back in: with the MusicVAE LSTMs
about a tenth of the CPU time went to the kernel. Raising the mmap and trim thresholds
keeps those pages; the process stays at its peak footprint, which training reaches in its
first step anyway. (PyTorch's CPU tuning guides reach for jemalloc or tcmalloc for the same
reason; this needs no extra library.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Ask glibc to keep up to 1 GiB of freed memory; False where that is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    trim = libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    mmap = libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)
    return bool(trim and mmap)
