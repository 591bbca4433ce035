"""Device choice: cuda when available, else cpu; an explicit name always wins."""

from __future__ import annotations

import torch


def pick_device(name: str | None = None) -> torch.device:
    if name:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {name} asked for CUDA, but torch.cuda.is_available() is False on this machine")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
