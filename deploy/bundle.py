"""The bundle: exported policy files, the gate report, the ledger summary and a hashed manifest.

Layout of a bundle directory::

    policy.pt             TorchScript of the deterministic policy (normalization folded in)
    policy.onnx           the same graph in ONNX
    gate_report.json      the run's gate report, as validation wrote it (absent only under override)
    ledger_summary.json   the run's ledger summary (summary.json's ``ledger`` and the last ledger.jsonl entry)
    manifest.json         everything below, with the SHA-256 of every other file
    manifest.json.sha256  the SHA-256 of manifest.json's exact bytes

Loading (:func:`load_bundle`) checks, before anything is deserialized: the manifest's own hash,
its required fields, and that the directory holds exactly the listed files with the listed
hashes. One changed byte anywhere is refused, naming the file.

The gate (:func:`check_gate`): a run exports only when ``<run_dir>/gate_report.json`` validates
against validation's schema (``validation/schemas/gate_report.schema.json``, read as data) and says
PROMOTE for this run and robot. Anything else is refused with the failed rules named, unless the
user gives an override reason, which the manifest records and every later load prints.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import platform
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.json.sha256"
GATE_REPORT = "gate_report.json"
LEDGER_SUMMARY = "ledger_summary.json"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "validation" / "schemas" / "gate_report.schema.json"
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "": ("bundle_format", "created", "robot", "control", "policy", "gate", "override", "ledger", "run",
         "versions", "files"),
    "robot": ("name", "observation_layout", "observation_columns", "obs_dim", "action_dim", "action_bounds",
              "safe_action", "failure_predicates"),
    "control": ("rate_hz", "control_timestep_s", "robot_settings"),
    "policy": ("torchscript", "onnx", "input", "output", "obs_dim", "act_dim", "normalization", "parity"),
    "gate": ("decision", "failed_rules", "report"),
}  # fmt: skip
"""Fields a manifest must hold, by section ("" is the top level)."""
PACKAGES = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy", "mujoco", "dm_control", "gymnasium", "jsonschema")


class BundleError(RuntimeError):
    """A bundle cannot be made or loaded; the message names the file or field and what is wrong."""


class GateRefusal(BundleError):
    """The run has no PROMOTE gate decision (or its report is missing or invalid) and no override was given."""

    def __init__(self, message: str, failed_rules: list[str]) -> None:
        super().__init__(message)
        self.failed_rules = failed_rules


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a bundle's export and runtime depend on."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# --- the gate ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateCheck:
    """The outcome of reading a run's gate report."""

    decision: str
    """PROMOTE, REJECT, MISSING (no report) or INVALID (the report does not validate)."""
    failed_rules: list[str]
    problems: list[str]
    """Why the gate does not allow export (empty exactly when it does)."""
    report: dict[str, Any] | None
    path: Path | None = None
    """The report file (copied byte for byte into the bundle)."""

    @property
    def promoted(self) -> bool:
        return not self.problems


def gate_schema() -> dict[str, Any]:
    """Validation's gate-report schema (read as data; ``deploy`` imports nothing from validation)."""
    if not SCHEMA_PATH.is_file():
        raise BundleError(f"the gate report schema {SCHEMA_PATH} is missing from this installation")
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def check_gate(run_dir: Path, robot: str) -> GateCheck:
    """Reads the run's gate report and says whether it promotes this run on this robot. The report
    is ``<run_dir>/gate_report.json`` or, where ``synthgate validate`` writes it by default,
    ``<run_dir>/validation/gate_report.json`` (the first that exists).

    A report allows export when it validates against the schema, says PROMOTE with no failed rule,
    names ``robot``, and names this run as its candidate (same resolved path, or the same directory
    name when the report was written elsewhere with a relative path).
    """
    candidates = (run_dir / GATE_REPORT, run_dir / "validation" / GATE_REPORT)
    path = next((p for p in candidates if p.is_file()), candidates[0])
    if not path.is_file():
        return GateCheck("MISSING", [], [f"neither {candidates[0]} nor {candidates[1]} exists: the run has not been "
                                         "through the gate (synthgate validate writes it)"], None)  # fmt: skip
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        return GateCheck("INVALID", [], [f"{path} is not JSON: {err}"], None)
    try:
        jsonschema.validate(report, gate_schema())
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        return GateCheck("INVALID", [], [f"{path} does not match the gate report schema at {where}: {err.message}"],
                         report, path)  # fmt: skip
    failed = list(report["failed_rules"])
    problems = []
    if report["decision"] != "PROMOTE":
        problems.append(f"gate decision is {report['decision']}; failed rules: {', '.join(failed) or '(none listed)'}")
    elif failed:
        problems.append(f"gate report says PROMOTE but lists failed rules {failed}: inconsistent report")
    if report["robot"] != robot:
        problems.append(f"gate report is for robot {report['robot']!r}, this run is {robot!r}")
    candidate = Path(report["candidate"])
    if candidate.resolve() != run_dir.resolve() and candidate.name != run_dir.resolve().name:
        problems.append(f"gate report's candidate is {report['candidate']!r}, not this run {str(run_dir)!r}")
    return GateCheck(report["decision"], failed, problems, report, path)


# --- making a bundle ---------------------------------------------------------------------------


def write_manifest(bundle: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Hashes every file in ``bundle`` into ``manifest["files"]`` and writes manifest.json and its hash."""
    files = sorted(p for p in bundle.iterdir() if p.name not in (MANIFEST, MANIFEST_HASH))
    for p in files:
        if not p.is_file():
            raise BundleError(f"{p} is not a plain file; a bundle holds only files")
    manifest = {**manifest, "files": {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files}}
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (bundle / MANIFEST).write_bytes(data)
    (bundle / MANIFEST_HASH).write_text(hashlib.sha256(data).hexdigest() + "\n")
    return manifest


def make_bundle(
    out: Path,
    *,
    exported_dir: Path,
    exported_files: list[str],
    gate: GateCheck,
    override: str | None,
    ledger: dict[str, Any],
    sections: dict[str, Any],
) -> dict[str, Any]:
    """Assembles a bundle directory.

    Args:
        out: the bundle directory; must not exist.
        exported_dir: where :func:`deploy.export.export_policy` wrote ``exported_files``.
        gate: the run's gate check; export proceeds only if it promotes or ``override`` is given.
        override: the user's reason for exporting without PROMOTE (recorded and printed on every load).
        ledger: the run's ledger summary, written as ledger_summary.json.
        sections: the manifest's ``robot``, ``control``, ``policy`` and ``run`` sections.

    Returns:
        The manifest written.

    Raises:
        GateRefusal: no PROMOTE and no override.
        BundleError: ``out`` exists, an empty override reason, or a missing section.
    """
    if not gate.promoted and override is None:
        raise GateRefusal("refusing to export: " + "; ".join(gate.problems) +
                          '. Pass --override "<reason>" to export anyway (recorded in the manifest).',
                          gate.failed_rules)  # fmt: skip
    if override is not None and not override.strip():
        raise BundleError("--override needs a reason (a non-empty string)")
    missing = [k for k in ("robot", "control", "policy", "run") if k not in sections]
    if missing:
        raise BundleError(f"make_bundle: sections {missing} are missing")
    if out.exists():
        raise BundleError(f"{out} already exists; choose a new bundle directory")
    out.mkdir(parents=True)
    for name in exported_files:
        shutil.copy2(exported_dir / name, out / name)
    if gate.path is not None and gate.report is not None:  # the file as validation wrote it, byte for byte
        shutil.copyfile(gate.path, out / GATE_REPORT)
    (out / LEDGER_SUMMARY).write_text(json.dumps(ledger, indent=2, sort_keys=True) + "\n")
    manifest: dict[str, Any] = {
        "bundle_format": BUNDLE_FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **sections,
        "gate": {
            "decision": gate.decision,
            "failed_rules": gate.failed_rules,
            "problems": gate.problems,
            "report": GATE_REPORT if gate.report is not None else None,
            "schema": str(SCHEMA_PATH.relative_to(SCHEMA_PATH.parents[2])),
        },
        "override": None if gate.promoted else {
            "reason": override, "user": getpass.getuser(), "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "gate_decision": gate.decision, "failed_rules": gate.failed_rules, "problems": gate.problems,
        },
        "ledger": {"summary": LEDGER_SUMMARY},
        "versions": package_versions(),
    }  # fmt: skip
    return write_manifest(out, manifest)


# --- loading a bundle --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its directory, manifest and the manifest's SHA-256 (the bundle's id)."""

    root: Path
    manifest: dict[str, Any]
    manifest_sha256: str

    @property
    def id(self) -> str:
        """Short id: the first 12 hex digits of the manifest's SHA-256."""
        return self.manifest_sha256[:12]

    @property
    def override(self) -> dict[str, Any] | None:
        return self.manifest.get("override")

    def banner(self) -> str:
        """What every command that loads the bundle prints first (the override, when there is one)."""
        m = self.manifest
        lines = [f"bundle {self.root} (id {self.id}): robot {m['robot']['name']}, {m['control']['rate_hz']:g} Hz, "
                 f"gate {m['gate']['decision']}"]  # fmt: skip
        if self.override:
            o = self.override
            lines.append(
                f"WARNING: exported WITHOUT a PROMOTE gate decision (gate: {o['gate_decision']}, failed rules: "
                f"{', '.join(o['failed_rules']) or '-'}); override by {o['user']} at {o['at']}: {o['reason']!r}"
            )
        return "\n".join(lines)


def _missing_fields(manifest: dict[str, Any]) -> list[str]:
    missing = []
    for section, keys in REQUIRED_FIELDS.items():
        node = manifest if not section else manifest.get(section)
        if not isinstance(node, dict):
            missing.append(section)
            continue
        missing += [f"{section}.{k}" if section else k for k in keys if k not in node]
    return missing


def load_bundle(root: Path) -> Bundle:
    """Verifies a bundle and returns its manifest; nothing in it is deserialized before this passes.

    Raises:
        BundleError: not a bundle; manifest.json changed (its hash disagrees); a required manifest
            field missing (named); a listed file missing, changed (its hash disagrees) or an
            unlisted file present.
    """
    manifest_path, hash_path = root / MANIFEST, root / MANIFEST_HASH
    if not manifest_path.is_file() or not hash_path.is_file():
        raise BundleError(f"{root} is not a bundle: {MANIFEST} and {MANIFEST_HASH} are required")
    data = manifest_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != hash_path.read_text().strip():
        raise BundleError(f"{manifest_path} was changed: its SHA-256 {digest[:12]}… does not match {MANIFEST_HASH}")
    try:
        manifest = json.loads(data)
    except json.JSONDecodeError as err:
        raise BundleError(f"{manifest_path} is not JSON: {err}") from err
    missing = _missing_fields(manifest)
    if missing:
        raise BundleError(f"{manifest_path} lacks required field(s): {', '.join(missing)}")
    if manifest["bundle_format"] != BUNDLE_FORMAT:
        raise BundleError(f"{manifest_path}: bundle_format {manifest['bundle_format']}, this runtime reads "
                          f"{BUNDLE_FORMAT}")  # fmt: skip
    listed = manifest["files"]
    present = {p.name for p in root.iterdir()} - {MANIFEST, MANIFEST_HASH}
    extra = sorted(present - set(listed))
    if extra:
        raise BundleError(f"{root} holds files the manifest does not list: {', '.join(extra)}")
    for name, entry in sorted(listed.items()):
        path = root / name
        if not path.is_file():
            raise BundleError(f"{path} is listed in the manifest but missing")
        got = sha256_file(path)
        if got != entry["sha256"]:
            raise BundleError(f"{path} was changed: SHA-256 {got[:12]}… != manifest {entry['sha256'][:12]}…")
    if not manifest["gate"]["decision"] == "PROMOTE" and not manifest["override"]:
        raise BundleError(f"{manifest_path}: gate decision {manifest['gate']['decision']} and no override recorded")
    return Bundle(root, manifest, digest)
