"""Where a training runs: the device, torch's threads and float16 autocast."""

from __future__ import annotations

import torch


def select_device(name: str) -> torch.device:
    """'auto' is the first GPU when there is one, else the CPU; other names are taken as is."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available.")
    return device


def setup_threads(num_threads: int) -> None:
    """Set torch's intra-op threads; applied per call because worker processes are reused."""
    if num_threads > 0:
        torch.set_num_threads(num_threads)


def autocast(device: torch.device, amp: bool) -> torch.autocast:
    """float16 autocast on `device` when `amp`, else a no-op context."""
    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp)
