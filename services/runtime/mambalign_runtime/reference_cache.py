"""DPO reference log-probs, computed once and cached next to the run.

The reference model's summed completion log-probs depend on the model (its resolved identity,
the folded-in adapter), the data file's bytes, the lengths and template it was encoded with, the
precision and the kernel path; the cache key is the sha256 of exactly those. The file
`<dir>/reference-logps-<key>.pt` ({"chosen", "rejected"} float32 tensors, one entry per pair)
is written atomically by rank 0; a resumed run or a second run pointed at the same directory
(`train.referenceCacheDir`) loads it instead of running the first pass again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from .model_source import file_sha256

PREFIX = "reference-logps-"


def cache_key(model_identity: dict[str, str], data_file: str, **encoding: Any) -> str:
    """sha256 over the model identity, the data file's content and the encoding settings."""
    material = {"model": model_identity, "data_sha256": file_sha256(data_file), "encoding": encoding}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(directory: str, key: str) -> Path:
    return Path(directory) / f"{PREFIX}{key}.pt"


def load(directory: str, key: str, n_pairs: int) -> dict[str, torch.Tensor] | None:
    path = cache_path(directory, key)
    if not path.is_file():
        return None
    try:
        cached = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a torn or foreign file is recomputed, never trusted
        return None
    if not isinstance(cached, dict) or any(cached.get(k) is None or cached[k].shape != (n_pairs,)
                                           for k in ("chosen", "rejected")):
        return None
    return {"chosen": cached["chosen"], "rejected": cached["rejected"]}


def store(directory: str, key: str, logps: dict[str, torch.Tensor]) -> Path:
    path = cache_path(directory, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"chosen": logps["chosen"], "rejected": logps["rejected"]}, tmp)
    os.replace(tmp, path)
    return path
