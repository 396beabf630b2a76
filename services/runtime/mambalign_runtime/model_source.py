"""What exactly was trained on: the resolved identity of the model (and adapter) a run loaded.

Recorded in the `started` event's versions map, where the trainer copies it into the registry
lineage: `model.source` (preset | local | hub), `model.revision` (the Hub commit, or the
preset's name and seed), `model.sha256` (of the weight files of a local directory) and
`adapter.sha256`. The same identity keys the DPO reference cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 8 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(directory: str | Path) -> str:
    """One digest over a directory's weight files: sha256 of "<name> <sha256>\\n" lines, sorted by name.
    Empty when the directory holds none."""
    root = Path(directory)
    files = sorted(p for p in root.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        return ""
    listing = "".join(f"{p.name} {file_sha256(p)}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def model_versions(ref: str, model=None, adapter: str = "") -> dict[str, str]:
    """The versions-map entries for `ref` (spec.model) after it was loaded as `model`."""
    from .preset import PRESET_SEED

    out: dict[str, str] = {}
    if ref.startswith("preset:"):
        out.update({"model.source": "preset", "model.revision": f"{ref.split(':', 1)[1]}@seed-{PRESET_SEED}"})
    elif Path(ref).is_dir():
        out.update({"model.source": "local", "model.sha256": weights_sha256(ref)})
    else:
        repo, _, requested = ref.partition("@")
        commit = getattr(getattr(model, "config", None), "_commit_hash", None) if model is not None else None
        out.update({"model.source": "hub", "model.id": repo, "model.revision": commit or requested or "main"})
    if adapter and Path(adapter).is_dir():
        out["adapter.sha256"] = weights_sha256(adapter)
    return out
