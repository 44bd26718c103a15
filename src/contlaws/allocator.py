"""glibc malloc settings for PyTorch on CPU: freed memory is kept for reuse instead of handed back.

PyTorch's CPU tensors come from ``malloc``. With glibc's defaults a tensor of a few MiB (the S6
scan's (T, B, D, N) chunks, attention scores, evaluation batches) is served by a fresh ``mmap`` and
returned to the OS when freed, so the next step's tensor of the same size faults in new zeroed pages
again; or the heap top is trimmed back after every step. glibc's thresholds adapt once a process has
freed a large block, so how much this costs depends on what the process did before: about half of an
S6 step's CPU time in a bare loop of steps, 3-7 % of a step in a real E3 training
(benchmarks/bench_malloc.py, benchmarks/RESULTS.md).

:func:`tune_malloc` raises both thresholds once per process, through ``mallopt``: blocks below
:data:`MMAP_THRESHOLD` come from the heap, and up to :data:`TRIM_THRESHOLD` of free heap stays
mapped. It changes where tensors live, never their values: results are the same bytes
(tests/test_allocator.py). It does nothing off glibc, when the user set glibc's own malloc variables
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), or when
``CONTLAWS_MALLOC_TUNING=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameter numbers (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc refuses an mmap threshold above 32 MiB on 64-bit systems (HEAP_MAX_SIZE / 2)
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 256 * 2**20
OPT_OUT = "CONTLAWS_MALLOC_TUNING"
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def tune_malloc() -> str:
    """Raise glibc's mmap and trim thresholds for this process.

    Returns:
        "tuned", or why nothing was changed ("opted out", "user settings", "not glibc", "refused").
    """
    if os.environ.get(OPT_OUT, "1").strip() == "0":
        return "opted out"
    if any(name in os.environ for name in USER_SETTINGS):
        return "user settings"
    if not sys.platform.startswith("linux"):
        return "not glibc"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return "not glibc"
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success. The mmap threshold first: setting either one switches off glibc's
    # dynamic thresholds, and a trim threshold alone would pin large blocks to mmap at 128 KiB (slower
    # than the defaults), so a refused mmap threshold leaves both untouched.
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        return "refused"
    if mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "refused"
    return "tuned"
