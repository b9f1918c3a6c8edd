"""keep_freed_memory: large tensors come from the heap and stay there for the next step."""

import subprocess
import sys

import pytest

from wavelet_networks import runtime

if runtime._libc() is None:  # pragma: no cover - not glibc
    pytest.skip("keep_freed_memory applies to glibc on Linux only", allow_module_level=True)


_SCRIPT = """
import ctypes, torch
from wavelet_networks import runtime

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = runtime._libc()
libc.mallinfo2.restype = Mallinfo2
size = 100 * 2**20 // 4  # 100 MB of float32
for keep in (False, True):
    assert runtime.keep_freed_memory(keep) and runtime.keeps_freed_memory() == keep
    base = libc.mallinfo2().hblkhd  # bytes in blocks glibc got straight from mmap
    t = torch.empty(size).fill_(1.0)
    print(libc.mallinfo2().hblkhd - base)
    del t
"""


@pytest.fixture
def restore():
    before = runtime.keeps_freed_memory()
    yield
    runtime.keep_freed_memory(before)


def test_large_tensors_come_from_the_heap_when_kept():
    # a fresh process: this one's heap may already hold freed blocks of any size
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    system, kept = (int(v) for v in done.stdout.split())
    assert system >= 100 * 2**20  # the system default: a fresh mmap, returned when freed
    assert kept < 2**20  # kept: from the heap, which keeps it after it is freed


def test_environment_turns_it_off(monkeypatch):
    monkeypatch.setenv("WAVELET_NETWORKS_KEEP_MEMORY", "0")
    assert not runtime.keep_freed_memory_requested()
    monkeypatch.setenv("WAVELET_NETWORKS_KEEP_MEMORY", "1")
    assert runtime.keep_freed_memory_requested()


def test_not_glibc_is_a_no_op(monkeypatch):
    monkeypatch.setattr(runtime, "_libc", lambda: None)
    assert runtime.keep_freed_memory() is False


def test_the_command_line_applies_it(monkeypatch, restore, capsys):
    from wavelet_networks.cli import main

    runtime.keep_freed_memory(False)
    monkeypatch.setenv("WAVELET_NETWORKS_KEEP_MEMORY", "0")
    main(["bench", "--help"])
    assert not runtime.keeps_freed_memory()
    monkeypatch.delenv("WAVELET_NETWORKS_KEEP_MEMORY")
    main(["bench", "--help"])
    assert runtime.keeps_freed_memory()
