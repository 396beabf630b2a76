"""download_version's file checks (the part of it that needs no server): a path that would land
outside the target directory is refused, and a file whose bytes do not match the manifest is not
left behind under its name or as a partial file."""

from __future__ import annotations

import hashlib

import pytest

from mambalign_client import DownloadError
from mambalign_client.client import _FileSink


@pytest.mark.parametrize("name", ["../escape.bin", "/etc/passwd", "a/../../b", ""])
def test_a_path_outside_the_directory_is_refused(tmp_path, name):
    with pytest.raises(DownloadError, match="unsafe file path"):
        _FileSink(tmp_path / "out", name, 0, "")
    assert not (tmp_path / "escape.bin").exists()


def test_a_file_that_does_not_match_the_manifest_leaves_nothing(tmp_path):
    sink = _FileSink(tmp_path, "adapter_model.safetensors", 5, hashlib.sha256(b"right").hexdigest())
    sink.write(b"wrong")
    with pytest.raises(DownloadError, match="adapter_model.safetensors: got 5 bytes"):
        sink.finish()
    assert list(tmp_path.iterdir()) == []


def test_a_matching_file_is_written_under_its_path(tmp_path):
    sink = _FileSink(tmp_path, "sub/adapter_config.json", 2, hashlib.sha256(b"{}").hexdigest())
    sink.write(b"{}")
    assert sink.finish() == tmp_path / "sub" / "adapter_config.json"
    assert (tmp_path / "sub" / "adapter_config.json").read_bytes() == b"{}"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["adapter_config.json"]
