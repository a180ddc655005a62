"""The auditor's report as one self-contained HTML file: inline CSS, charts as inline SVG drawn here, the system
font stack, no script, no external resource, so it opens anywhere, archives as is and prints on A4 (one section
per page, light colours, tables that repeat their header). Every value from the ledger is escaped: event data is
user input."""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlmodel import Session

from gateway.ledger import filters
from gateway.ledger.filters import EventFilter, Head, Row, obj
from gateway.ledger.report import OUTCOMES, Report, build, trails

COLORS = {"approved": "#2e7d32", "pending_approval": "#e0a100", "rejected": "#c62828"}
LABELS = {"approved": "approved", "pending_approval": "pending approval", "rejected": "rejected"}
BAR = "#3563a0"
MUTED, GRID = "#59636e", "#d8dee4"

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --soft: #f4f6f8; --accent: #3563a0; }
* { box-sizing: border-box; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
html { background: #fff; }
body { margin: 0; color: var(--ink); background: #fff; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 32px 28px 48px; }
h1 { font-size: 28px; margin: 4px 0 12px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 15px; margin: 0 0 6px; }
section { margin-top: 40px; }
p { margin: 6px 0; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono",
  monospace; font-size: 0.88em; }
.eyebrow { text-transform: uppercase; letter-spacing: 0.08em; font-size: 12px; color: var(--muted); margin: 0; }
.note { color: var(--muted); font-size: 12.5px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 12px 0 0; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; overflow-wrap: anywhere; }
.toc { columns: 2; margin: 16px 0 0; padding-left: 20px; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: var(--soft);
  break-inside: avoid; }
.tile .label { font-size: 12px; color: var(--muted); }
.tile .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.25; }
.tile .sub { font-size: 12px; color: var(--muted); }
figure { margin: 8px 0 16px; break-inside: avoid; }
figcaption { font-size: 12.5px; color: var(--muted); margin-top: 4px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: inherit; fill: var(--ink); }
.legend { display: flex; gap: 18px; font-size: 12.5px; margin: 6px 0 0 48px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px;
  vertical-align: -1px; }
table { width: 100%; border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
thead { display: table-header-group; }
th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 1.5px solid var(--ink);
  padding: 5px 8px; }
td { border-bottom: 1px solid var(--line); padding: 5px 8px; vertical-align: top; overflow-wrap: break-word; }
tr { break-inside: avoid; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap, .nowrap { white-space: nowrap; }
code.small { font-size: 0.8em; color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
.pill { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; border: 1px solid var(--line);
  white-space: nowrap; }
.pill.good { border-color: #9cc8a0; background: #eaf5eb; }
.pill.bad { border-color: #e3a5a5; background: #fbeaea; }
.pill.wait { border-color: #e6cd80; background: #fdf6e0; }
.trail { border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px 2px; margin: 14px 0;
  break-inside: avoid-page; }
.trail table { margin: 6px 0 10px; font-size: 12.5px; }
.trail .t { width: 150px; }
blockquote { margin: 0; padding-left: 8px; border-left: 3px solid var(--line); }
footer { margin-top: 40px; border-top: 1px solid var(--line); padding-top: 10px; font-size: 12.5px;
  color: var(--muted); }
@page { size: A4; margin: 14mm 12mm 16mm; }
@media print {
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  section { margin-top: 0; break-before: page; }
  section#summary { margin-top: 28px; break-before: auto; }
  .tiles { grid-template-columns: repeat(4, 1fr); }
  h2, h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_int(n: float) -> str:
    return f"{int(n):,}"


def _n(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def fmt_money(v: float, currency: str) -> str:
    return f"{esc(currency)} {v:,.2f}"


def fmt_duration(secs: float | None) -> str:
    if secs is None:
        return "—"
    if secs < 60:
        return f"{secs:.0f} s"
    if secs < 3600:
        return f"{secs / 60:.0f} min"
    if secs < 86400:
        h, m = divmod(round(secs / 60), 60)
        return f"{h} h {m:02d} min"
    return f"{secs / 86400:.1f} days"


def fmt_ts(ts: str | None) -> str:
    return "—" if not ts else ts.replace("T", " ")[:19]


def _breakable(name: str) -> str:
    """A rule name that may wrap after its `/` and `_` in a narrow column."""
    return esc(name).replace("/", "/<wbr>").replace("_", "_<wbr>")


def _when(ts: str | None) -> str:
    """A time in a table cell, kept on one line."""
    return f'<span class="nowrap">{esc(fmt_ts(ts))}</span>'


# -- charts ---------------------------------------------------------------------------------------------------
def _nice_max(v: float) -> tuple[float, float]:
    """An axis maximum at or above v and a tick step, both round numbers."""
    if v <= 0:
        return 1.0, 1.0
    raw = v / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    if step < 1:
        step = 1.0
    return step * math.ceil(v / step), step


def _label(t: datetime, level: str, first: bool) -> str:
    if level == "minute":
        return t.strftime("%d %b %H:%M" if first else "%H:%M")
    if level == "hour":
        return t.strftime("%d %b %H:00" if first or t.hour == 0 else "%H:00")
    if level == "day":
        return t.strftime("%d %b")
    return t.strftime("%b %Y")


def stacked_bars(level: str, series: list[tuple[datetime, Counter[str]]], title: str) -> str:
    w, h, ml, mr, mt, mb = 900, 270, 48, 12, 12, 40
    pw, ph = w - ml - mr, h - mt - mb
    top, step = _nice_max(max((sum(c.values()) for _, c in series), default=0))
    out = [f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{esc(title)}" '
           f'font-size="12"><title>{esc(title)}</title>']  # fmt: skip
    ticks = round(top / step)
    for i in range(ticks + 1):
        y = mt + ph - ph * i / ticks
        out.append(
            f'<line x1="{ml}" x2="{w - mr}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" '
            f'stroke-width="{1.2 if i == 0 else 0.8}"/>'
            f'<text x="{ml - 8}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{fmt_int(step * i)}</text>'
        )
    n = max(1, len(series))
    slot = pw / n
    bw = max(1.0, min(slot * 0.72, 46))
    every = max(1, math.ceil(n / 11))
    for i, (t, counts) in enumerate(series):
        x = ml + slot * i + (slot - bw) / 2
        y = mt + ph
        for outcome in OUTCOMES:
            v = counts.get(outcome, 0)
            if not v:
                continue
            bh = ph * v / top
            y -= bh
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                       f'fill="{COLORS[outcome]}"><title>{esc(_label(t, level, True))}: {v} '
                       f'{LABELS[outcome]}</title></rect>')  # fmt: skip
        if i % every == 0:
            cx = ml + slot * i + slot / 2
            out.append(f'<text x="{cx:.1f}" y="{h - mb + 18}" text-anchor="middle" fill="{MUTED}">'
                       f'{esc(_label(t, level, i == 0))}</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def hbars(items: list[tuple[str, float, str]], title: str, color: str = BAR) -> str:
    """Horizontal bars: (label, value, value as shown)."""
    w, row, lw, vw = 900, 26, 330, 110
    h = row * len(items) + 8
    top = max((v for _, v, _ in items), default=0) or 1
    out = [f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{esc(title)}" '
           f'font-size="12.5"><title>{esc(title)}</title>']  # fmt: skip
    for i, (label, v, shown) in enumerate(items):
        y = 4 + i * row
        short = label if len(label) <= 46 else label[:45] + "…"
        bw = max(2.0, (w - lw - vw) * v / top)
        out.append(f'<text x="{lw - 10}" y="{y + 17}" text-anchor="end">{esc(short)}<title>{esc(label)}</title>'
                   f'</text><rect x="{lw}" y="{y + 4}" width="{bw:.1f}" height="{row - 9}" rx="2" fill="{color}"/>'
                   f'<text x="{lw + bw + 8:.1f}" y="{y + 17}" fill="{MUTED}">{esc(shown)}</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def vbars(items: list[tuple[str, int]], title: str, color: str = BAR) -> str:
    w, h, ml, mb, mt = 900, 200, 48, 34, 18
    pw, ph = w - ml - 12, h - mt - mb
    top, step = _nice_max(max((v for _, v in items), default=0))
    slot = pw / max(1, len(items))
    out = [f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{esc(title)}" '
           f'font-size="12"><title>{esc(title)}</title>']  # fmt: skip
    ticks = round(top / step)
    for i in range(ticks + 1):
        y = mt + ph - ph * i / ticks
        out.append(
            f'<line x1="{ml}" x2="{w - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="0.8"/>'
            f'<text x="{ml - 8}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{fmt_int(step * i)}</text>'
        )
    for i, (label, v) in enumerate(items):
        bw = slot * 0.6
        x = ml + slot * i + (slot - bw) / 2
        bh = ph * v / top
        cx = x + bw / 2
        out.append(
            f'<rect x="{x:.1f}" y="{mt + ph - bh:.1f}" width="{bw:.1f}" height="{bh:.1f}" rx="2" '
            f'fill="{color}"><title>{esc(label)}: {v}</title></rect>'
            f'<text x="{cx:.1f}" y="{h - mb + 18}" text-anchor="middle" fill="{MUTED}">{esc(label)}</text>'
        )
        if v:
            out.append(f'<text x="{cx:.1f}" y="{mt + ph - bh - 5:.1f}" text-anchor="middle">{v}</text>')
    out.append("</svg>")
    return "".join(out)


# -- sections -------------------------------------------------------------------------------------------------
def _tile(key: str, label: str, value: str, sub: str = "") -> str:
    return (f'<div class="tile" id="fig-{key}"><div class="label">{esc(label)}</div>'
            f'<div class="value">{value}</div><div class="sub">{sub}</div></div>')  # fmt: skip


def _table(head: list[str], rows: list[list[str]], num: set[int] | None = None, empty: str = "None.") -> str:
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    num = num or set()
    th = "".join(f"<th{' class=num' if i in num else ''}>{esc(c)}</th>" for i, c in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in num else ''}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _cover(r: Report) -> str:
    since, until = r.period()
    flt = r.flt.as_dict()
    shown = ", ".join(f"{k} = {v}" for k, v in flt.items() if k not in ("since", "until")) or "none"
    seqs = f"{r.first_seq} to {r.last_seq}" if r.events else "—"
    toc = "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t in SECTIONS)
    return (
        '<header><p class="eyebrow">governance-gateway · audit report</p>'
        "<h1>Change governance audit report</h1>"
        f'<dl class="meta"><dt>Period</dt><dd id="period">{esc(fmt_ts(since))} to {esc(fmt_ts(until))} UTC'
        f"{' (end excluded)' if r.flt.until else ''}</dd>"
        f"<dt>Filter</dt><dd>{esc(shown)}</dd>"
        f"<dt>Ledger events</dt><dd>{fmt_int(r.events)} (seq {seqs}; the chain's head was seq {r.head.seq} "
        "when the report was made)</dd>"
        f"<dt>Last event hash</dt><dd><code>{esc(r.last_hash or '—')}</code></dd>"
        f"<dt>Generated</dt><dd>{esc(fmt_ts(r.generated_at))} UTC</dd></dl>"
        f'<ol class="toc">{toc}</ol></header>'
    )


SECTIONS = (("summary", "Summary"), ("decisions", "Decisions by outcome over time"),
            ("rules", "Most violated rules"), ("exemptions", "Exemptions"),
            ("overrides", "Overrides and their justifications"), ("lead-times", "Approval lead times"),
            ("cost", "Cost approved per team"), ("policies", "Policy revisions in force"),
            ("trails", "Trail per request"))  # fmt: skip


def _h2(anchor: str) -> str:
    n, title = next((i + 1, t) for i, (a, t) in enumerate(SECTIONS) if a == anchor)
    return f'<section id="{anchor}"><h2>{n}. {esc(title)}</h2>'


def _summary(r: Report) -> str:
    t = r.types
    d = r.decisions
    median, p90 = r.lead.quantile(0.5), r.lead.quantile(0.9)
    tiles = [
        _tile("events", "Ledger events", fmt_int(r.events), f"{len(t)} event types"),
        _tile("submitted", "Requests submitted", fmt_int(t["request.submitted"]),
              f"{fmt_int(t['request.invalid'])} invalid submissions refused"),
        _tile("decisions", "Policy decisions", fmt_int(sum(d.values())),
              f"{d['approved']} approved · {d['pending_approval']} to approve · {d['rejected']} rejected"),
        _tile("approved", "Requests approved", fmt_int(t["request.approved"]),
              f"{r.approvals['by_people']} by approvers · {r.approvals['automatic']} by policy"),
        _tile("rejected", "Requests rejected", fmt_int(t["request.rejected"]),
              f"{r.votes['reject']} by approvers' votes"),
        _tile("executed", "Changes carried out", fmt_int(t["execution.succeeded"]),
              f"{t['execution.failed']} failed · {fmt_int(t['cloud.call'])} cloud calls, {r.cloud_errors} errors"),
        _tile("expired", "Expired or cancelled", fmt_int(t["request.expired"] + t["request.cancelled"]),
              f"{t['request.expired']} expired · {t['request.cancelled']} cancelled"),
        _tile("cost", "Cost approved", fmt_money(r.cost_total, r.currency), "per month, all teams"),
        _tile("lead-median", "Approval lead time, median", fmt_duration(median), f"{r.lead.n} approvals timed"),
        _tile("lead-p90", "Approval lead time, 90th pct", fmt_duration(p90), "from waiting to approved"),
        _tile("exemptions-used", "Requests under an exemption", fmt_int(r.exemption_requests),
              f"{_n(len(r.exemptions), 'exemption')} used · {t['exemption.approved']} granted in period"),
        _tile("overrides", "Overrides", fmt_int(r.overrides_total), "soft-mandatory rules waived by approvers"),
    ]  # fmt: skip
    return (_h2("summary") + f'<div class="tiles">{"".join(tiles)}</div>'
            f'<p class="note">Dry runs: {fmt_int(t["policy.dry_run"])}. Re-checks before execution: '
            f'{fmt_int(t["policy.rechecked"])} ({t["policy.rechecked (stopped)"]} stopped a request). '
            f'Post-implementation reviews: {t["review.completed"]}. Drift findings: {t["inventory.drift"]}.</p>'
            "</section>")  # fmt: skip


def _decisions(r: Report) -> str:
    level, series = r.timeline.series()
    legend = "".join(
        f'<span><span class="swatch" style="background:{COLORS[o]}"></span>{LABELS[o]} ({r.decisions[o]})</span>'
        for o in OUTCOMES
    )
    if not series:
        return _h2("decisions") + '<p class="empty">No policy decisions in the period.</p></section>'
    chart = stacked_bars(level, series, "Policy decisions by outcome over time")
    return (
        _h2("decisions") + f'<figure>{chart}<div class="legend">{legend}</div>'
        f"<figcaption>Policy decisions at submission and after amendments, per {level} (UTC). "
        "Requests to approve went on to approvers; see the lead times below.</figcaption></figure></section>"
    )


def _rules(r: Report) -> str:
    top = r.top_rules(10)
    rows = [[f"<code>{esc(s)}/{esc(rule)}</code>", esc(enf), fmt_int(n)] for (s, rule, enf), n in top]
    chart = hbars(
        [(f"{s}/{rule}", n, fmt_int(n)) for (s, rule, _), n in top], "Most violated rules", "#b4532a"
    )
    body = f"<figure>{chart}</figure>" if top else ""
    return (_h2("rules") + body + _table(["Rule", "Enforcement", "Violations"], rows, {2},
                                         "No rule was violated in the period.")
            + f'<p class="note">{len(r.rules)} distinct rules violated; counted in policy decisions and in '
            "re-checks that stopped a request, dry runs apart.</p></section>")  # fmt: skip


def _exemptions(r: Report) -> str:
    used = sorted(r.exemptions.items(), key=lambda kv: (-kv[1].requests, kv[0]))
    rows = [[f'<code class="nowrap">{esc(eid)}</code>', _breakable(", ".join(sorted(u.rules))),
             esc(", ".join(sorted(u.teams))),
             fmt_int(u.requests), fmt_int(u.uses), _when(u.last_ts), f"<code>{esc(u.last_request)}</code>"]
            for eid, u in used]  # fmt: skip
    events = [[_when(e["ts"]), esc(e["type"]), f'<code class="nowrap">{esc(e["id"])}</code>',
               _breakable(e["rule"] or ""),
               esc(e["team"] or ""), esc(e["actor"]), esc(e["reason"]), esc(e["ticket"] or ""),
               _when(e["expires_at"])] for e in reversed(r.exemption_events)]  # fmt: skip
    more = (f'<p class="note">The {len(r.exemption_events)} most recent of {r.exemption_events_total} shown.</p>'
            if r.exemption_events_total > len(r.exemption_events) else "")  # fmt: skip
    return (_h2("exemptions") + "<h3>Exemptions used</h3>"
            + _table(["Exemption", "Rules waived", "Teams", "Requests", "Decisions", "Last used", "Last request"],
                     rows, {3, 4}, "No exemption was used in the period.")
            + '<p class="note">Decisions: an exemption waives a rule in the decision at submission and again in '
            "the re-check before execution; each use is on the ledger.</p>"
            + "<h3>Exemptions requested, granted and revoked</h3>"
            + _table(["Time (UTC)", "Event", "Exemption", "Rule", "Team", "By", "Reason or comment", "Ticket",
                      "Expires"], events, None, "No exemption was requested, granted or revoked in the period.")
            + more + "</section>")  # fmt: skip


def _overrides(r: Report) -> str:
    rows = [[_when(o["ts"]), f"{esc(o['title'])}<br><code class=small>{esc(o['request_id'])}</code>", esc(o["team"]),
             esc(o["approver"]), esc(", ".join(o["groups"])), esc(", ".join(o["rules"])) or "—",
             f"<blockquote>{esc(o['justification'])}</blockquote>"] for o in reversed(r.overrides)]  # fmt: skip
    more = (f'<p class="note">The {len(r.overrides)} most recent of {r.overrides_total} overrides shown.</p>'
            if r.overrides_total > len(r.overrides) else "")  # fmt: skip
    return (_h2("overrides")
            + '<p class="note">Votes that approved a request despite a soft-mandatory violation; policy requires a '
            "justification for each.</p>"
            + _table(["Time (UTC)", "Request", "Team", "Approver", "Groups", "Rules overridden", "Justification"],
                     rows, None, "No override in the period.")
            + more + "</section>")  # fmt: skip


def _lead_times(r: Report) -> str:
    q = r.lead
    figures = (
        f'<div class="tiles">{_tile("lead-n", "Approvals timed", fmt_int(q.n))}'
        f"{_tile('lead-median-2', 'Median', fmt_duration(q.quantile(0.5)))}"
        f"{_tile('lead-p90-2', '90th percentile', fmt_duration(q.quantile(0.9)))}"
        f"{_tile('lead-auto', 'Approved by policy', fmt_int(r.approvals['automatic']), 'no wait')}</div>"
    )
    teams = sorted(r.lead_by_team.items())
    rows = [[esc(t), fmt_int(tq.n), fmt_duration(tq.quantile(0.5)), fmt_duration(tq.quantile(0.9))]
            for t, tq in teams]  # fmt: skip
    chart = vbars(r.lead_hist_series(), "Approval lead times") if q.n else ""
    notes = []
    if r.approvals["wait_before_period"]:
        notes.append(f"{r.approvals['wait_before_period']} approvals whose wait began before the period are not "
                     "timed.")  # fmt: skip
    if not q.exact:
        notes.append("Over 200,000 approvals: percentiles are estimated to within 1%.")
    if r.open_evicted:
        notes.append(
            f"{r.open_evicted} long-open requests were too many to follow: some lead times may be missing."
        )
    return (_h2("lead-times") + figures
            + (f"<figure>{chart}<figcaption>Approvals by lead time: from the request starting to wait for approval "
               "to its approval, one per approval round.</figcaption></figure>" if chart else "")
            + _table(["Team", "Approvals", "Median", "90th percentile"], rows, {1, 2, 3},
                     "No request waited for approval in the period.")
            + "".join(f'<p class="note">{esc(n)}</p>' for n in notes) + "</section>")  # fmt: skip


def _cost(r: Report) -> str:
    teams = sorted(r.cost_by_team.items(), key=lambda kv: (-kv[1], kv[0]))
    chart = hbars(
        [(t, v, fmt_money(v, r.currency)) for t, v in teams[:15]], "Cost approved per team", "#2f7d6d"
    )
    rows = [[esc(t), fmt_int(r.approved_by_team[t]), fmt_money(v, r.currency)] for t, v in teams]
    if rows:
        rows.append(["<strong>Total</strong>", f"<strong>{fmt_int(sum(r.approved_by_team.values()))}</strong>",
                     f"<strong>{fmt_money(r.cost_total, r.currency)}</strong>"])  # fmt: skip
    return (_h2("cost") + (f"<figure>{chart}</figure>" if teams else "")
            + _table(["Team", "Requests approved", "Monthly cost approved"], rows, {1, 2},
                     "No request was approved in the period.")
            + '<p class="note">The estimated monthly cost of the decision each request was approved on, once per '
            "request.</p></section>")  # fmt: skip


def _policies(r: Report) -> str:
    revs = sorted(r.revisions.items(), key=lambda kv: (kv[0][0], kv[1].first_ts))
    rows = [[esc(name), f"<code>{esc(rev)}</code>", _when(v.first_ts), _when(v.last_ts),
             fmt_int(v.decisions)] for (name, rev), v in revs]  # fmt: skip
    return (_h2("policies")
            + _table(["Bundle", "Revision", "First decision", "Last decision", "Decisions"], rows, {4},
                     "No policy decision in the period.")
            + "</section>")  # fmt: skip


def _pill(typ: str) -> str:
    kind = ("good" if typ.endswith(("approved", "succeeded")) else
            "bad" if typ.endswith(("rejected", "failed", "invalid", "expired", "unavailable")) else
            "wait" if typ.endswith(("pending_approval", "drift")) else "")  # fmt: skip
    return f'<span class="pill {kind}">{esc(typ)}</span>'


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(event: dict[str, Any]) -> str:
    """One line about an event for its request's trail (escaped HTML)."""
    typ = event["type"]
    data = obj(event["data"])
    decision = obj(data.get("decision"))
    if typ == "request.submitted":
        req = data.get("request") or {}
        n = len(req.get("resources") or [])
        return esc(_short(f"“{req.get('title', '')}”, {n} resource(s), {req.get('environment', '')}"))
    if decision:
        cost = decision.get("cost") or {}
        rules = ", ".join(f"{v.get('set')}/{v.get('rule')}" for v in decision.get("violations") or [])
        needs = ", ".join(
            f"{a.get('group')} \u00d7{a.get('count')}" for a in decision.get("required_approvals") or []
        )
        parts = [
            str(decision.get("outcome")),
            f"{cost.get('currency', 'USD')} {cost.get('monthly', 0):,.2f}/month",
        ]
        parts += [f"violations: {rules}"] if rules else []
        parts += [f"approvals: {needs}"] if needs else []
        return esc(_short(" · ".join(parts), 240))
    if typ == "approval.recorded":
        text = f"{data.get('verdict')} for {', '.join(data.get('groups') or [])}"
        if data.get("override"):
            text += " · override"
        comment = data.get("comment")
        return esc(text) + (f" · “{esc(_short(comment))}”" if comment else "")
    if typ == "exemption.used":
        rules = ", ".join(f"{w.get('set')}/{w.get('rule')}" for w in data.get("waived") or [])
        return esc(_short(f"exemption {data.get('exemption_id')} waived {rules}"))
    if typ == "cloud.call":
        text = f"{data.get('service')} {data.get('operation')} → HTTP {data.get('http_status')}"
        return esc(_short(text + (f" · {data['error']}" if data.get("error") else "")))
    if typ == "policy.rechecked":
        return esc(
            f"{data.get('outcome')} under the policy revisions it was approved on"
            if data.get("revisions", {}).get("before") == data.get("revisions", {}).get("now")
            else f"{data.get('outcome')} under newer policy revisions"
        )
    for key in ("reason", "error", "comment", "address"):
        if data.get(key):
            return esc(_short(f"{key}: {data[key]}"))
    scalars = [f"{k}: {v}" for k, v in data.items() if isinstance(v, str | int | float | bool)][:4]
    return esc(_short(", ".join(scalars)))


def trail(rid: str, rows: list[Row], total: int) -> str:
    info = next((r.request for r in rows if r.request is not None), None)
    submitted = next((r.event for r in rows if r.event["type"] == "request.submitted"), None)
    meta = []
    if info:
        meta += [f"team <strong>{esc(info.team)}</strong>", f"now <strong>{esc(info.state)}</strong>"]
    if submitted:
        meta.append(f"submitted by {esc(submitted['actor'])}")
    body = "".join(
        f'<tr><td class="t nowrap">{esc(fmt_ts(r.event["ts"]))}</td><td>{_pill(r.event["type"])}</td>'
        f"<td>{esc(r.event['actor'])}</td><td>{describe(r.event)}</td></tr>"
        for r in rows
    )
    more = f'<p class="note">The first {len(rows)} of {total} events shown.</p>' if total > len(rows) else ""
    return (f'<article class="trail" id="req-{esc(rid)}"><h3>{esc(info.title if info else "Request")} '
            f'<code>{esc(rid)}</code></h3><p class="note">{" · ".join(meta)}</p>'
            '<table><thead><tr><th class="t">Time (UTC)</th><th>Event</th><th>Actor</th><th>Detail</th></tr>'
            f"</thead><tbody>{body}</tbody></table>{more}</article>")  # fmt: skip


def _head(title: str) -> str:
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>")  # fmt: skip


def chunks(
    session: Session, flt: EventFilter, head: Head, *, generated_at: str, max_trails: int = 50
) -> Iterator[bytes]:
    """The report, streamed: the page's head at once, the sections after the pass, then one trail at a time."""
    yield _head("Audit report · governance-gateway").encode()
    r = build(session, flt, head, generated_at=generated_at, max_trails=max_trails)
    sections = [_cover(r), _summary(r), _decisions(r), _rules(r), _exemptions(r), _overrides(r), _lead_times(r),
                _cost(r), _policies(r)]  # fmt: skip
    yield "".join(sections).encode()
    kept = r.recent_requests()
    total = filters.count_requests(session, flt, upto=head.seq) if kept else 0
    note = (f"The {len(kept)} most recent of {total} requests, the most recent first. Export one request's trail "
            "with <code>govgate audit export --request ID</code>." if total > len(kept) else
            f"All {total} requests with events in the period, the most recent first.")  # fmt: skip
    yield (_h2("trails") + (f'<p class="note">{note}</p>' if kept else
                            '<p class="empty">No request has events in the period.</p>')).encode()  # fmt: skip
    for rid, rows, n in trails(session, r):
        yield trail(rid, rows, n).encode()
    yield (b"</section><footer>Generated by governance-gateway from its hash-chained audit ledger. The JSONL export "
           b"of the same period (<code>govgate audit export --format jsonl</code>) carries every event with its "
           b"hashes; <code>govgate audit verify --file</code> checks it offline. Times are UTC."
           b"</footer></main></body></html>\n")  # fmt: skip
