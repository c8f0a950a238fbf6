"""Bundles: the gate decides what exports; every load verifies hashes and fields; overrides are loud."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import gate_report
from helpers import synthgate

from deploy.bundle import REQUIRED_FIELDS, BundleError, check_gate, load_bundle, sha256_file
from synthgate.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line in this process (saves a subprocess start); returns (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / "b"
    shutil.copytree(bundle, out)
    return out


def test_promoted_bundle_manifest_has_every_field_and_hash(bundle: Path, promoted_run: Path) -> None:
    loaded = load_bundle(bundle)
    m = loaded.manifest
    assert m["gate"]["decision"] == "PROMOTE" and m["override"] is None
    assert sorted(m["files"]) == ["gate_report.json", "ledger_summary.json", "policy.onnx", "policy.pt"]
    for name, entry in m["files"].items():
        assert entry["sha256"] == sha256_file(bundle / name)
    assert m["robot"]["name"] == "cheetah-run" and m["robot"]["obs_dim"] == 17 and m["robot"]["action_dim"] == 6
    assert m["robot"]["observation_columns"][:2] == ["position.rootz", "position.rooty"]
    assert m["robot"]["action_bounds"]["low"] == [-1.0] * 6 and m["robot"]["failure_predicates"] == ["tipped"]
    assert m["control"]["rate_hz"] == pytest.approx(50.0)
    assert m["policy"]["normalization"]["kind"] == "identity"
    assert m["policy"]["parity"]["random"]["onnx_max_abs_diff"] <= 1e-5
    assert {"torch", "onnx", "onnxruntime", "mujoco", "python"} <= set(m["versions"])
    assert json.loads((bundle / "gate_report.json").read_text())["decision"] == "PROMOTE"
    assert sha256_file(bundle / "gate_report.json") == sha256_file(promoted_run / "gate_report.json")  # as written
    ledger = json.loads((bundle / "ledger_summary.json").read_text())
    assert ledger["summary_json"]["steps"] == 300 and ledger["ledger_jsonl_last"]["kind"] == "final"
    verified = synthgate("deploy", "verify", str(bundle))
    assert verified.returncode == 0 and "verified 4 files" in verified.stdout and "WARNING" not in verified.stdout


def test_export_refused_without_a_gate_report(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "deploy", "export", str(tiny_run), "--out", str(tmp_path / "b"))
    assert code == 3, err
    assert "has not been through the gate" in err and not (tmp_path / "b").exists()


def test_export_reads_the_report_where_synthgate_validate_writes_it(
    promoted_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / promoted_run.name  # same directory name: the report names it as candidate
    shutil.copytree(promoted_run, run)
    (run / "validation").mkdir()
    (run / "gate_report.json").rename(run / "validation" / "gate_report.json")
    code, _, err = cli(capsys, "deploy", "export", str(run), "--out", str(tmp_path / "b"))
    assert code == 0, err
    assert json.loads((tmp_path / "b" / "gate_report.json").read_text())["decision"] == "PROMOTE"


def test_export_refused_on_reject_naming_the_failed_rules(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    report = gate_report(run, "REJECT", ("targeted_metric_improves", "nominal_non_inferior"))
    (run / "gate_report.json").write_text(json.dumps(report))
    code, _, err = cli(capsys, "deploy", "export", str(run), "--out", str(tmp_path / "b"))
    assert code == 3
    assert "gate decision is REJECT" in err
    assert "failed rules: targeted_metric_improves, nominal_non_inferior" in err
    assert not (tmp_path / "b").exists()


def test_a_report_that_breaks_the_schema_or_names_another_run_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    bad = gate_report(run)
    bad["decision"] = "MAYBE"
    (run / "gate_report.json").write_text(json.dumps(bad))
    check = check_gate(run, "cheetah-run")
    assert check.decision == "INVALID" and "at decision" in check.problems[0]
    other = gate_report(tmp_path / "elsewhere")
    (run / "gate_report.json").write_text(json.dumps(other))
    check = check_gate(run, "walker-walk")
    assert any("for robot 'cheetah-run', this run is 'walker-walk'" in p for p in check.problems)
    assert any("candidate" in p for p in check.problems)


def test_override_is_recorded_and_printed_by_every_later_command(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "gate_report.json").write_text(json.dumps(gate_report(run, "REJECT", ("nominal_non_inferior",))))
    out = tmp_path / "b"
    exported = synthgate("deploy", "export", str(run), "--out", str(out), "--override", "bench test on the stand-in")
    assert exported.returncode == 0, exported.stderr
    override = json.loads((out / "manifest.json").read_text())["override"]
    assert override["reason"] == "bench test on the stand-in" and override["gate_decision"] == "REJECT"
    assert override["failed_rules"] == ["nominal_non_inferior"]
    warning = "WARNING: exported WITHOUT a PROMOTE gate decision (gate: REJECT, failed rules: nominal_non_inferior)"
    outputs = [
        exported.stdout,
        cli(capsys, "deploy", "verify", str(out))[1],
        cli(capsys, "deploy", "run", str(out), "--backend", "mujoco", "--max-steps", "3", "--no-log")[1],
    ]
    for stdout in outputs:
        assert warning in stdout and "'bench test on the stand-in'" in stdout, stdout


@pytest.mark.parametrize("name", ["policy.onnx", "policy.pt", "gate_report.json", "ledger_summary.json",
                                  "manifest.json"])  # fmt: skip
def test_one_changed_byte_is_refused_naming_the_file(bundle: Path, tmp_path: Path, name: str) -> None:
    copy = _copy(bundle, tmp_path)
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=rf"{re.escape(name)} was changed"):
        load_bundle(copy)


def test_cli_refuses_a_tampered_bundle_before_running(bundle: Path, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    data = bytearray((copy / "policy.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "policy.onnx").write_bytes(bytes(data))
    refused = synthgate("deploy", "run", str(copy), "--backend", "mujoco", "--no-log")
    assert refused.returncode == 4 and "policy.onnx was changed" in refused.stderr
    assert "running" not in refused.stdout


def test_missing_field_missing_file_and_extra_file_are_refused(bundle: Path, tmp_path: Path) -> None:
    for section, key in [("", "control"), ("control", "rate_hz"), ("robot", "action_bounds"), ("gate", "decision")]:
        assert key in REQUIRED_FIELDS[section]
        copy = tmp_path / f"m-{section}-{key}"
        shutil.copytree(bundle, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        del (manifest[section] if section else manifest)[key]
        data = json.dumps(manifest).encode()
        (copy / "manifest.json").write_bytes(data)  # re-hashed: only the missing field is wrong
        (copy / "manifest.json.sha256").write_text(hashlib.sha256(data).hexdigest())
        with pytest.raises(BundleError, match=rf"lacks required field\(s\): {section + '.' if section else ''}{key}"):
            load_bundle(copy)
    copy = _copy(bundle, tmp_path)
    (copy / "policy.pt").unlink()
    with pytest.raises(BundleError, match=r"policy\.pt is listed in the manifest but missing"):
        load_bundle(copy)
    copy = tmp_path / "extra"
    shutil.copytree(bundle, copy)
    (copy / "notes.txt").write_text("hi")
    with pytest.raises(BundleError, match=r"files the manifest does not list: notes\.txt"):
        load_bundle(copy)


def test_deploy_imports_no_training_world_model_scenario_or_validation_code() -> None:
    code = (
        "import sys, deploy.bundle, deploy.export, deploy.runtime, deploy.safety, deploy.logs, "
        "deploy.mujoco_backend, deploy.lerobot_backend; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pipeline', 'scenarios', 'validation', 'synthgate'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("rate", ["-5", "0", "nan"])
def test_a_bad_rate_is_refused_before_anything_runs_or_is_printed(
    bundle: Path, rate: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21, item 8: ``--rate -5`` printed "running at -5 Hz" before its error; ``--rate 0`` ran at
    the bundle's rate."""
    code, out, err = cli(capsys, "deploy", "run", str(bundle), "--backend", "mujoco", "--rate", rate,
                         "--max-steps", "3", "--no-log")  # fmt: skip
    assert code == 2 and out.startswith("bundle ") and len(out.splitlines()) == 1, out  # the bundle's line only
    assert err.strip() == (
        f"synthgate deploy: error: --rate {rate}: must be a finite number > 0 (Hz); "
        "omit it to run at the bundle's rate, 50 Hz"
    ), err
