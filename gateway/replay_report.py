"""A policy replay report three ways: a terminal table, JSON, and Markdown for a pull-request comment."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from gateway.pipeline.replay import Report

_MAX_ROWS = 50


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _changed_bundles(r: Report) -> list[str]:
    names = sorted(set(r.baseline) | set(r.draft))
    return [n for n in names if r.baseline.get(n) != r.draft.get(n) and n != "gateway-entry"]


def to_json(r: Report) -> str:
    return json.dumps({**r.as_dict(), "changed_bundles": _changed_bundles(r)}, indent=2, sort_keys=True)


def show(console: Console, r: Report) -> None:
    d = r.as_dict()
    cost = d["approved_cost_monthly"]
    console.print(
        f"[bold]{r.total}[/] past requests replayed, [bold]{len(r.changes)}[/] change; "
        f"bundles changed: {', '.join(_changed_bundles(r)) or 'none'}"
    )
    summary = Table(title="Outcomes", show_lines=False)
    for col in ("outcome", "current policies", "draft"):
        summary.add_column(col)
    for outcome in ("approved", "pending_approval", "rejected"):
        summary.add_row(outcome, str(r.outcomes_before[outcome]), str(r.outcomes_after[outcome]))
    summary.add_row(
        "approved cost / month", _money(cost["before"]), f"{_money(cost['after'])} ({cost['change']:+,.2f})"
    )
    console.print(summary)
    if r.flips:
        flips = Table(title="Outcome changes")
        flips.add_column("change")
        flips.add_column("requests", justify="right")
        for k, n in r.flips.most_common():
            flips.add_row(k, str(n))
        console.print(flips)
    rules = Table(title="Violations by rule")
    rules.add_column("rule")
    rules.add_column("new", justify="right", style="red")
    rules.add_column("vanished", justify="right", style="green")
    for rule in sorted(set(r.rules_new) | set(r.rules_vanished)):
        rules.add_row(rule, str(r.rules_new[rule] or ""), str(r.rules_vanished[rule] or ""))
    if rules.row_count:
        console.print(rules)
    if r.changes:
        t = Table(title=f"Requests that change (first {min(_MAX_ROWS, len(r.changes))})")
        for col in ("request", "team/env", "before", "after", "why"):
            t.add_column(col, overflow="fold")
        for c in r.changes[:_MAX_ROWS]:
            t.add_row(c.request_id[:8], f"{c.team}/{c.environment}", c.before, c.after, _why(c.__dict__))
        console.print(t)


def _why(c: dict[str, Any]) -> str:
    parts = [f"+ {v}" for v in c["new_violations"]] + [f"- {v}" for v in c["vanished_violations"]]
    parts += [f"+ approval {a}" for a in c["new_approvals"]] + [
        f"- approval {a}" for a in c["dropped_approvals"]
    ]
    return "; ".join(parts)


def to_markdown(r: Report) -> str:
    d = r.as_dict()
    cost = d["approved_cost_monthly"]
    lines = [
        "### Policy impact on past requests",
        "",
        f"**{r.total}** past requests replayed against this change; **{len(r.changes)}** would be decided "
        f"differently. Bundles changed: {', '.join(f'`{b}`' for b in _changed_bundles(r)) or 'none'}.",
        "",
        "| outcome | current policies | this change |",
        "|---|---:|---:|",
    ]
    for outcome in ("approved", "pending_approval", "rejected"):
        lines.append(f"| {outcome} | {r.outcomes_before[outcome]} | {r.outcomes_after[outcome]} |")
    lines.append(
        f"| approved cost / month | {_money(cost['before'])} | {_money(cost['after'])} ({cost['change']:+,.2f}) |"
    )
    if r.flips:
        lines += ["", "| outcome change | requests |", "|---|---:|"]
        lines += [f"| {k} | {n} |" for k, n in r.flips.most_common()]
    if r.rules_new or r.rules_vanished:
        lines += ["", "| rule | new violations | vanished |", "|---|---:|---:|"]
        for rule in sorted(set(r.rules_new) | set(r.rules_vanished)):
            lines.append(f"| `{rule}` | {r.rules_new[rule]} | {r.rules_vanished[rule]} |")
    if r.changes:
        lines += ["", "<details><summary>Requests that change</summary>", "",
                  "| request | team/env | before | after | why |", "|---|---|---|---|---|"]  # fmt: skip
        for c in r.changes[:200]:
            why = _why(c.__dict__).replace("|", "\\|")
            lines.append(
                f"| `{c.request_id[:8]}` {c.title} | {c.team}/{c.environment} | {c.before} | {c.after} | {why} |"
            )
        if len(r.changes) > 200:
            lines.append(f"| … {len(r.changes) - 200} more | | | | |")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
