"""Reports of a gate decision: ``gate_report.json`` (schema-checked on write and on read), a
static ``report.html`` readable offline (tables, plots embedded as PNG), and TensorBoard scalars.

The HTML is rendered from the JSON report alone, so ``synthgate report`` can rebuild it from a
run directory without re-running any panel.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from pipeline.checkpoint import atomic_write

SCHEMA_PATH = Path(__file__).parent / "schemas" / "gate_report.schema.json"
SCHEMA_VERSION = 1
REPORT_NAME = "gate_report.json"
HTML_NAME = "report.html"


class ReportError(ValueError):
    """A gate report is missing or does not match its schema; the message says where and what."""


@cache
def schema() -> dict[str, Any]:
    """The gate report's JSON Schema (the contract with ``deploy``)."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return loaded


def check(report: Mapping[str, Any], where: str = "gate report") -> None:
    """Validates a report against the schema and the decision's consistency.

    Raises:
        ReportError: naming the first violation's path and message.
    """
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ReportError(f"{where}: {path}: {err.message} ({len(errors)} schema violation(s))")
    failed = [r for r in report["rules"] if not r["passed"]]
    if (report["decision"] == "PROMOTE") != (not failed and not report["failed_rules"]):
        raise ReportError(f"{where}: decision {report['decision']} contradicts failed_rules {report['failed_rules']}")


def write_report(report: Mapping[str, Any], directory: Path) -> Path:
    """Checks and writes ``gate_report.json`` into ``directory`` (atomically)."""
    check(report)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / REPORT_NAME
    atomic_write(path, (json.dumps(report, indent=1, allow_nan=False) + "\n").encode())
    return path


def find_report(run_dir: Path) -> Path:
    """The gate report of a run directory (``<run>/validation/``), or of a validation directory.

    Raises:
        ReportError: there is none.
    """
    for path in (run_dir / REPORT_NAME, run_dir / "validation" / REPORT_NAME):
        if path.is_file():
            return path
    raise ReportError(f"no {REPORT_NAME} in {run_dir} or {run_dir / 'validation'}: run synthgate validate first")


def read_report(path: Path) -> dict[str, Any]:
    """Loads and validates a gate report.

    Raises:
        ReportError: unreadable, not JSON, or not matching the schema.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReportError(f"{path}: cannot read a gate report: {err}") from None
    check(data, str(path))
    assert isinstance(data, dict)
    return data


# --- TensorBoard ----------------------------------------------------------------------------


def write_tensorboard(report: Mapping[str, Any], directory: Path, step: int) -> None:
    """Panel means per arm and condition, rule outcomes and the decision as TensorBoard summaries."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(directory))
    try:
        for panel, groups in report["panels"].items():
            for arm, conds in groups["arms"].items():
                for cond, s in conds.items():
                    writer.add_scalar(f"validation/{panel}/{cond}/{arm}_{s['metric']}", s["mean"], step)
        for rule in report["rules"]:
            tag = rule["name"] + (f"/{rule['scenario']}" if rule.get("scenario") else "")
            writer.add_scalar(f"gate/{tag}", float(rule["passed"]), step)
        writer.add_scalar("gate/promote", float(report["decision"] == "PROMOTE"), step)
        lines = [f"**{report['decision']}**", ""] + [
            f"- {'PASS' if r['passed'] else 'FAIL'} `{r['name']}` {r.get('scenario') or ''}: {r['detail']}"
            for r in report["rules"]
        ]
        writer.add_text("gate/report", "\n".join(lines), step)
    finally:
        writer.close()


# --- HTML -----------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return html.escape(str(x))


def _distribution_plot(report: Mapping[str, Any], cond: Mapping[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(report["panels"]["real"]["arms"])
    fig, ax = plt.subplots(figsize=(6.0, 2.8))
    data, labels, colors = [], [], []
    for arm in arms:
        for panel, color in (("real", "#2b6cb0"), ("synthetic", "#dd6b20")):
            data.append(report["panels"][panel]["arms"][arm][cond["name"]]["values"])
            labels.append(f"{arm}\n{panel}")
            colors.append(color)
    parts = ax.boxplot(data, patch_artist=True, showmeans=True)
    ax.set_xticks(range(1, len(labels) + 1), labels)
    for patch, color in zip(parts["boxes"], colors, strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.45)
    rng = np.random.default_rng(0)
    for i, values in enumerate(data, start=1):
        ax.plot(i + rng.uniform(-0.12, 0.12, len(values)), values, ".", color="black", alpha=0.35, markersize=3)
    ax.set_ylabel(cond["metric"])
    ax.set_title(f"{cond['name']}: per-episode {cond['metric']}", fontsize=10)
    return _png(fig)


def _failure_frames_html(shots: Mapping[str, Any], esc: Any) -> list[str]:
    """The first real-panel failure of each shown arm: its frames from the start to the failure."""
    out = []
    for arm, entry in shots.items():
        who = f"{esc(arm)} ({esc(entry['policy'])})"
        if not entry.get("failed"):
            out.append(f"<p>{who}: no real-panel episode failed under this condition.</p>")
        elif "jpeg" not in entry:
            out.append(f"<p>{who}: episode {entry['episode']} failed; {esc(entry.get('error', 'no frames'))}.</p>")
        else:
            out.append(f"<p>{who}: first failed episode {entry['episode']} (seed {entry['seed']}), "
                       f"{entry['frames']} frames from its start to the failure at step {entry['step']}:</p>"
                       f"<img alt='{esc(arm)} failure' src='data:image/jpeg;base64,{entry['jpeg']}'>")  # fmt: skip
    return out


def _curves_plot(curves: Mapping[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    for name, points in curves.items():
        if points:
            steps, returns = zip(*points, strict=True)
            ax.plot(steps, returns, marker=".", label=name)
    ax.set(xlabel="env steps", ylabel="evaluation return")
    ax.legend(fontsize=8)
    return _png(fig)


def _scatter_plot(report: Mapping[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agreement = [r for r in report["rules"] if r["name"] == "synthetic_real_agreement"]
    n = len(agreement)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, rule in zip(axes[0], agreement, strict=True):
        v = rule["values"]
        unit, tol = v["scale"], v["tolerance"]
        xs = [v["real"][p] / unit for p in v["real"]]
        ys = [v["synthetic"][p] / unit for p in v["real"]]
        lo, hi = min([*xs, *ys, 0.0]) - 0.1, max([*xs, *ys, 1.0 if v["metric"] == "failure_rate" else 0.0]) + 0.1
        ax.fill_between([lo, hi], [lo - tol, hi - tol], [lo + tol, hi + tol], color="#c6f6d5", alpha=0.6,
                        label=f"±{tol} tolerance")  # fmt: skip
        ax.plot([lo, hi], [lo, hi], "k--", linewidth=0.8)
        colors = plt.get_cmap("tab10")
        for i, (p, x, y) in enumerate(zip(v["real"], xs, ys, strict=True)):
            ax.plot(x, y, "o", color=colors(i % 10), label=p, alpha=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"real {v['metric']} / {unit:.3g}")
        ax.set_ylabel("synthetic")
        ax.set_title(str(rule["scenario"]), fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return _png(fig)


_CSS = """
body{font-family:sans-serif;margin:24px;color:#1a202c;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #cbd5e0;padding:3px 8px;font-size:13px}
th{background:#edf2f7}.pass{color:#276749;font-weight:bold}.fail{color:#c53030;font-weight:bold}
#decision{font-size:28px;padding:10px 16px;display:inline-block;border-radius:6px;color:white}
.PROMOTE{background:#2f855a}.REJECT{background:#c53030}code{background:#edf2f7;padding:0 3px}
"""


def render_html(report: Mapping[str, Any]) -> str:
    """The static, offline HTML page of a gate report."""
    esc = html.escape
    decision = report["decision"]
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>synthgate gate report: {decision}"
           f"</title><style>{_CSS}</style></head><body>"]  # fmt: skip
    out.append(f"<h1>Gate report: {esc(report['robot'])}</h1>")
    out.append(f"<div id='decision' class='{decision}'>{decision}</div>")
    if report["failed_rules"]:
        out.append("<p>Failed rules: " + ", ".join(f"<code>{esc(n)}</code>" for n in report["failed_rules"]) + "</p>")
    else:
        out.append("<p>Every rule passed.</p>")
    arms = report.get("arms", {})
    out.append(f"<p>Candidate: <code>{esc(', '.join(arms.get('candidate', [report['candidate']])))}</code>; "
               f"baseline: <code>{esc(', '.join(arms.get('baseline', [report['baseline']])))}</code>; "
               f"synthetic panel model: <code>{esc(str(report.get('synthetic_model', '')))}</code>; "
               f"written {esc(report['created'])}.</p>")  # fmt: skip
    if report.get("note"):
        out.append(f"<p><b>Note:</b> {esc(report['note'])}</p>")
    spec = report.get("panel_spec", {})
    out.append(f"<p>Panels: {spec.get('episodes')} episodes per condition of {spec.get('max_steps')} steps, "
               f"panel seed {spec.get('seed')} (held-out stream {spec.get('seed_stream')}), "
               f"scenarios {esc(', '.join(report['scenarios']))}; real panel on the real plant with gap profile "
               f"<code>{esc(str(spec.get('gap', 'none')))}</code>"
               + ("; the <b>sim</b> panel is the same episodes in the sim (shown, not used by the rules)"
                  if "sim" in report.get("panels", {}) else "") + ".</p>")  # fmt: skip

    out.append("<h2>Rules</h2><table><tr><th>rule</th><th>condition</th><th>outcome</th><th>detail</th></tr>")
    for r in report["rules"]:
        cls, word = ("pass", "PASS") if r["passed"] else ("fail", "FAIL")
        out.append(f"<tr><td><code>{esc(r['name'])}</code></td><td>{esc(str(r.get('scenario') or ''))}</td>"
                   f"<td class='{cls}'>{word}</td><td>{esc(r['detail'])}</td></tr>")  # fmt: skip
    out.append("</table>")

    out.append("<h2>Per condition</h2>")
    for cond in report.get("conditions", []):
        name = cond["name"]
        out.append(f"<h3>{esc(name)} <small>({esc(cond['metric'])}, "
                   f"{'lower' if cond['lower_is_better'] else 'higher'} is better)</small></h3>")  # fmt: skip
        returns = cond["metric"] in ("return", "return_under_perturbation")  # its mean is the metric's: one column
        out.append("<table><tr><th>arm / policy</th><th>panel</th><th>n</th><th>synthetic share</th>"
                   f"<th>mean {esc(cond['metric'])}</th><th>{report['config']['confidence']:.0%} CI</th>"
                   f"<th>failure rate</th>{'' if returns else '<th>mean return</th>'}"
                   "<th>dropped (synthetic)</th></tr>")  # fmt: skip
        members = report.get("arms", {})
        sole = {m[0] for key in ("candidate", "baseline") for m in [members.get(key, [])] if len(m) == 1}
        rows = [("arms", who) for who in report["panels"]["real"]["arms"]]
        rows += [("policies", who) for who in report["panels"]["real"]["policies"] if who not in sole]
        for group, who in rows:
            label = f"{who} ({', '.join(members.get(who, []))})" if group == "arms" and members.get(who) else who
            for panel in [p for p in ("real", "sim", "synthetic", "mixed") if p in report["panels"]]:
                s = report["panels"][panel][group][who][name]
                ci = s["ci"]
                return_cell = "" if returns else f"<td>{_fmt(s['return_mean'])}</td>"
                out.append(
                    f"<tr><td>{esc(label)}</td><td>{panel}</td><td>{s['n']}</td><td>{_fmt(s['synthetic_share'], 3)}"
                    f"</td><td>{_fmt(s['mean'])}</td><td>[{_fmt(ci['low'])}, {_fmt(ci['high'])}]</td>"
                    f"<td>{_fmt(s['failure_rate'], 3)}</td>{return_cell}"
                    f"<td>{_fmt(s['invalid_share'], 3)}</td></tr>"
                )
        out.append("</table>")
        out.append(f"<img alt='distribution of {esc(name)}' src='{_distribution_plot(report, cond)}'>")
        out += _failure_frames_html(report.get("failure_frames", {}).get(name, {}), esc)

    if report.get("curves"):
        out.append("<h2>Learning curves</h2><p>Evaluation return (deterministic policy) over training, per run.</p>")
        out.append(f"<img alt='learning curves' src='{_curves_plot(report['curves'])}'>")

    if report.get("arms_table"):
        out.append("<h2>Training arms: arm x panel</h2><p>Each cell: the arm's mean over its seeds' panel episodes "
                   "[bootstrap CI].</p>")  # fmt: skip
        for cond, t in report["arms_table"].items():
            out.append(f"<h3>{esc(cond)} ({esc(t['metric'])})</h3><table><tr><th>arm</th><th>real</th>"
                       "<th>synthetic</th><th>mixed</th></tr>")  # fmt: skip
            for arm, row in t["arms"].items():
                cells = "".join(f"<td>{_fmt(row[p]['estimate'])} [{_fmt(row[p]['low'])}, {_fmt(row[p]['high'])}]</td>"
                                for p in ("real", "synthetic", "mixed"))  # fmt: skip
                out.append(f"<tr><td>{esc(arm)}</td>{cells}</tr>")
            out.append("</table>")

    out.append("<h2>Synthetic vs real</h2><p>Each point is one policy's mean on the synthetic panel against the "
               "real panel, in the condition's scale; the band is the agreement tolerance.</p>")  # fmt: skip
    out.append(f"<img alt='synthetic versus real' src='{_scatter_plot(report)}'>")

    out.append("<h2>Ledger</h2><table><tr><th>run</th><th>real consumed</th><th>synthetic consumed</th>"
               "<th>synthetic share</th><th>configured real ratio</th><th>run's anchor check</th></tr>")  # fmt: skip
    for run, led in report.get("ledger", {}).items():
        con = led["consumed"]
        out.append(f"<tr><td>{esc(run)}</td><td>{con['real']}</td><td>{con['synthetic']}</td>"
                   f"<td>{_fmt(led['synthetic_share_cumulative'], 3)}</td>"
                   f"<td>{_fmt(led.get('configured_real_ratio'))}</td>"
                   f"<td class='{'pass' if led['real_anchor'] else 'fail'}'>{'OK' if led['real_anchor'] else 'NO'}"
                   "</td></tr>")  # fmt: skip
    out.append("</table>")
    out.append("<h2>Gate configuration</h2><table>")
    for key, value in report["config"].items():
        out.append(f"<tr><td><code>{esc(key)}</code></td><td>{_fmt(value)}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out)


def write_html(report: Mapping[str, Any], directory: Path) -> Path:
    """Writes ``report.html`` beside the JSON report."""
    path = directory / HTML_NAME
    atomic_write(path, render_html(report).encode())
    return path
