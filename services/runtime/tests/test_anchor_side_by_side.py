"""The side-by-side table (scripts/anchor_side_by_side.py): which records meet in a row and what the
ratios are. Runs on CPU; the GPU machine only fills the records."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "anchor_side_by_side.py"
spec = importlib.util.spec_from_file_location("anchor_side_by_side", SCRIPT)
sbs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sbs)


def _rows(ours, anchor):
    return {r[0]: r[1:] for r in sbs.rows(ours, anchor)}


def test_each_row_divides_ours_by_the_anchor_at_the_same_batch_and_checkpointing():
    ours = [{"bench": "train", "seq": 2048, "batch": 4, "grad_ckpt": False, "tokens_per_s": 24000.0, "peak_mem_gib": 30.0},
            {"bench": "train", "seq": 2048, "batch": 4, "grad_ckpt": True, "tokens_per_s": 18000.0, "peak_mem_gib": 15.0}]
    anchor = [{"anchor": "mamba_ssm", "bench": "train", "seq": 2048, "batch": 4, "grad_ckpt": False,
               "tokens_per_s": 20000.0, "peak_mem_gib": 31.0},
              {"anchor": "mamba_ssm", "bench": "train", "seq": 2048, "batch": 4, "grad_ckpt": True,
               "tokens_per_s": 15000.0, "peak_mem_gib": 20.0}]
    got = _rows(ours, anchor)
    assert got["LoRA/frozen base b4, no ckpt"] == ["24,000.0", "30.0", "20,000.0", "31.0", "1.20x", "0.97x"]
    assert got["LoRA/frozen base b4, ckpt"] == ["18,000.0", "15.0", "15,000.0", "20.0", "1.20x", "0.75x"]
    assert len(got) == 2  # shapes measured on neither side are left out


def test_out_of_memory_shows_as_oom_without_a_ratio():
    ours = [{"bench": "train", "seq": 2048, "batch": 8, "grad_ckpt": False, "error": "CUDA out of memory. Tried ..."}]
    anchor = [{"anchor": "mamba_ssm", "bench": "train", "seq": 2048, "batch": 8, "tokens_per_s": 19956, "peak_mem_gib": 57}]
    assert _rows(ours, anchor)["LoRA/frozen base b8, no ckpt"] == ["OOM", "OOM", "19,956", "57", "—", "—"]


def test_anchor_records_without_grad_ckpt_are_the_no_checkpointing_row_and_decode_matches_on_batch():
    ours = [{"bench": "long", "seq": 16384, "batch": 1, "grad_ckpt": True, "tokens_per_s": 9000},
            {"bench": "decode", "batch": 64, "tokens_per_s": 12000}]
    anchor = [{"anchor": "mamba_ssm", "bench": "long", "seq": 16384, "batch": 1, "tokens_per_s": 18000},
              {"anchor": "mamba_ssm", "bench": "decode", "batch": 64, "tokens_per_s": 10000}]
    got = _rows(ours, anchor)
    assert got["seq 16,384 b1, no ckpt"][4] == "—" and got["seq 16,384 b1, ckpt"][4] == "—"
    assert got["decode b64"][4] == "1.20x"


def test_one_file_with_both_columns_redraws_the_markdown_table(tmp_path):
    recs = [{"bench": "scan_pick", "card": "NVIDIA H200", "fwd_ms": 1.0, "lease": "sweep"},  # not a row: ignored
            {"bench": "full", "seq": 2048, "batch": 4, "grad_ckpt": False, "card": "NVIDIA H200",
             "tokens_per_s": 20000.0, "peak_mem_gib": 40.0},
            {"anchor": "mamba_ssm", "bench": "full", "seq": 2048, "batch": 4, "grad_ckpt": False,
             "card": "NVIDIA H200", "tokens_per_s": 16000.0, "peak_mem_gib": 45.0}]
    f = tmp_path / "both.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = subprocess.run([sys.executable, str(SCRIPT), "--ours", str(f), "--anchor", str(f), "--markdown"],
                         capture_output=True, text=True, check=True).stdout
    assert "| full fine-tuning b4, no ckpt | 20,000.0 | 40.0 | 16,000.0 | 45.0 | 1.25x | 0.89x |" in out
    assert "card(s): NVIDIA H200" in out
    assert "sweep" not in out  # the note names where the rows were measured, not other benches in the file


def test_measure_with_ours_given_times_only_the_anchor(tmp_path, monkeypatch, capsys):
    """Ours measured in one device call, the anchor in the next on the same machine: --measure with
    --ours must not time ours again, and the table joins the file's records with the anchor's."""
    ours = tmp_path / "ours.jsonl"
    ours.write_text(json.dumps({"bench": "train", "seq": 2048, "batch": 4, "grad_ckpt": False,
                                "tokens_per_s": 24000.0, "peak_mem_gib": 30.0}) + "\n")

    def ours_again(*_a, **_k):
        raise AssertionError("ours was measured again")

    monkeypatch.setattr(sbs, "measure_ours", ours_again)
    asked = {}

    def anchor(site, steps, emit, profile=False):
        asked["profile"] = profile
        return [emit({"anchor": "mamba_ssm", "bench": "train", "seq": 2048, "batch": 4, "grad_ckpt": False,
                      "tokens_per_s": 20000.0, "peak_mem_gib": 31.0}),
                emit({"anchor": "mamba_ssm", "bench": "profile", "seq": 2048, "batch": 4, "grad_ckpt": False,
                      "device_ms_total": 400.0})]

    monkeypatch.setattr(sbs, "measure_anchor", anchor)
    out = tmp_path / "both.jsonl"
    monkeypatch.setattr(sys, "argv", ["anchor_side_by_side.py", "--measure", "SITE", "--ours", str(ours),
                                      "--out", str(out), "--profile"])
    assert sbs.main() == 0
    printed = capsys.readouterr().out
    assert "1.20x" in printed
    assert asked == {"profile": True}  # --profile reaches the anchor's measurement
    assert [json.loads(line)["bench"] for line in out.read_text().splitlines()] == ["train", "profile"]
