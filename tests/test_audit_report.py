"""The HTML report for auditors: each section's figures for a known scenario, one self-contained file that nothing
can run code in, and (with Chromium) that it renders and prints."""

from __future__ import annotations

import re
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.domain.identity import Role
from gateway.ledger import filters
from gateway.ledger import ledger as ledger_module
from gateway.ledger.filters import EventFilter, Head, RequestInfo, Row
from gateway.ledger.report import MAX_BUCKETS, Quantiles, Report, Timeline
from tests.factories import expensive, instance, request, security_group
from tests.test_exemptions import _spec

CHROMIUM = Path("/usr/bin/chromium")
TITLE = "<script>alert(1)</script> & <img src=x onerror=alert(2)>"
JUSTIFICATION = "Launch capacity for Q4 <b>agreed</b> with the CFO"


@pytest.fixture(autouse=True)
def ledger_time(monkeypatch, clock):
    """Ledger events take the test clock's time, so lead times are known exactly."""
    monkeypatch.setattr(ledger_module, "now_rfc3339", lambda: filters.ts_key(clock.now()))


def _approve(gateway, rid, who, comment="ok"):
    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": comment},
                            headers=who)  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def period(gateway, alice, bob, clock):
    """Four approvals after 30 min, 2 h, 6 h and 1 h (one overriding the analytics budget), a request rejected by
    a security rule, the same change passing under an exemption, and one approved by policy at once."""
    decisions: dict[str, dict] = {}

    def submit(body):
        out = gateway.submit(body, alice).json()
        decisions[out["id"]] = out["decision"]
        return out["id"]

    for wait in (0.5, 2, 6):
        rid = submit(expensive())
        clock.advance(hours=wait)
        _approve(gateway, rid, bob)
    over = submit(request(*[instance(f"w{i}", "m5.xlarge") for i in range(14)], team="analytics"))
    clock.advance(hours=1)
    _approve(gateway, over, bob, JUSTIFICATION)
    ssh = request(security_group(name="bastion", port=22))
    rejected = submit(ssh)
    admin, lead = gateway.token("root", Role.ADMIN), gateway.token("sec-lead", Role.APPROVER, ["security"])
    eid = gateway.client.post("/v1/exemptions", json=_spec(), headers=admin).json()["id"]
    gateway.client.post(f"/v1/exemptions/{eid}/approvals", json={"verdict": "approve"}, headers=lead)
    clock.advance(minutes=5)
    exempted = submit(ssh)
    clock.advance(minutes=5)
    injected = submit(request(instance("web-9"), title=TITLE))
    states = {
        rid: gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] for rid in decisions
    }
    assert states[rejected] == "rejected" and states[exempted] == states[injected] == "succeeded"
    return {"decisions": decisions, "override": over, "rejected": rejected, "exempted": exempted,
            "injected": injected, "exemption": eid}  # fmt: skip


def _report(gateway, auditor, **params) -> str:
    r = gateway.client.get("/v1/audit/export", params={"format": "html", **params}, headers=auditor)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    return r.text


def _tile(page: str, key: str) -> str:
    m = re.search(rf'id="fig-{key}"><div class="label">[^<]*</div><div class="value">(.*?)</div>', page)
    assert m, key
    return m.group(1)


def _section(page: str, anchor: str) -> str:
    m = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert m, anchor
    return m.group(1).replace("<wbr>", "")


def test_the_report_has_every_section_with_its_figures(gateway, auditor, period):
    page = _report(gateway, auditor)

    for anchor in ("summary", "decisions", "rules", "exemptions", "overrides", "lead-times", "cost", "policies",
                   "trails"):  # fmt: skip
        assert f'<section id="{anchor}">' in page
    assert _tile(page, "submitted") == "7"
    assert _tile(page, "approved") == "6"
    # Lead times 0.5, 1, 2 and 6 hours: the median interpolates, the 90th percentile too (PERCENTILE.INC).
    assert _tile(page, "lead-median") == "1 h 30 min"
    assert _tile(page, "lead-p90") == "4 h 48 min"
    assert _tile(page, "lead-n") == "4"
    assert _tile(page, "overrides") == "1" and _tile(page, "exemptions-used") == "1"

    decisions = _section(page, "decisions")
    assert "<svg" in decisions and "approved (2)" in decisions and "pending approval (4)" in decisions
    assert "rejected (1)" in decisions

    rules = _section(page, "rules")
    assert re.search(
        r"security/sg_admin_port_open_to_world</code></td><td>hard-mandatory</td><td class=num>1<", rules
    )
    assert re.search(r"cost/team_budget_exceeded</code></td><td>soft-mandatory</td><td class=num>1<", rules)

    exemptions = _section(page, "exemptions")
    assert period["exemption"] in exemptions and "security/sg_admin_port_open_to_world" in exemptions
    assert "bastion host until the VPN is live" in exemptions  # the reason it was granted for

    overrides = _section(page, "overrides")
    assert period["override"] in overrides and "cost/team_budget_exceeded" in overrides and "bob" in overrides
    assert "Launch capacity for Q4 &lt;b&gt;agreed&lt;/b&gt; with the CFO" in overrides

    lead = _section(page, "lead-times")
    assert re.search(r"<td>payments</td><td class=num>3</td><td class=num>2 h 00 min</td>", lead)
    assert re.search(r"<td>analytics</td><td class=num>1</td><td class=num>1 h 00 min</td>", lead)

    cost = _section(page, "cost")
    costs = {rid: d["cost"]["monthly"] for rid, d in period["decisions"].items() if rid != period["rejected"]}
    analytics = costs.pop(period["override"])
    assert f"<td>analytics</td><td class=num>1</td><td class=num>USD {analytics:,.2f}" in cost
    assert f"<td>payments</td><td class=num>5</td><td class=num>USD {sum(costs.values()):,.2f}" in cost

    assert "sha256:" in _section(page, "policies")

    trails = _section(page, "trails")
    assert "All 7 requests" in trails
    for rid in period["decisions"]:
        assert f'id="req-{rid}"' in trails
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt;" in trails


def test_the_report_is_self_contained_and_inert(gateway, auditor, period):
    page = _report(gateway, auditor)
    lowered = page.lower()
    for forbidden in ("<script", "<img", "<link", "<iframe", "<object", "@import", "url(", "http://", "https://",
                      "onerror="):  # fmt: skip
        assert forbidden not in lowered.replace("onerror=alert(2)&gt;", ""), forbidden
    assert "@media print" in page and "break-before: page" in page


def test_a_filtered_report_covers_its_selection(gateway, auditor, period):
    page = _report(gateway, auditor, team="analytics")
    assert _tile(page, "submitted") == "1" and _tile(page, "lead-median") == "1 h 00 min"
    assert "team = analytics" in page and period["override"] in _section(page, "trails")
    assert period["rejected"] not in page

    early = _report(gateway, auditor, until="2026-12-01T23:00:00Z")  # the first request, still waiting then
    assert _tile(early, "submitted") == "1" and _tile(early, "lead-n") == "0"


def test_the_trails_keep_the_most_recent_requests(gateway, auditor, period, monkeypatch):
    from gateway.ledger import report_html

    real = report_html.build
    monkeypatch.setattr(report_html, "build", lambda *a, **kw: real(*a, **{**kw, "max_trails": 2}))
    trails = _section(_report(gateway, auditor), "trails")
    assert "The 2 most recent of 7 requests" in trails
    shown = re.findall(r'id="req-([^"]+)"', trails)
    assert shown == [period["injected"], period["exempted"]]


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (scripts/test.sh installs it)"
)
def test_the_report_renders_and_prints_in_chromium(gateway, auditor, period, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(_report(gateway, auditor), encoding="utf-8")
    shot, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    for extra in ([f"--screenshot={shot}", "--window-size=1280,2000"], [f"--print-to-pdf={pdf}",
                  "--no-pdf-header-footer"]):  # fmt: skip
        done = subprocess.run([*flags, *extra, page.as_uri()], capture_output=True, timeout=90, check=False)
        assert done.returncode == 0, done.stderr.decode()[-2000:]

    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000) and len(data) > 50_000  # charts and text, not a blank page
    # One section per printed page at least: the cover and summary, then eight more sections.
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert pages >= 9, pages


# -- the aggregation alone, on made-up events -------------------------------------------------------------------
def _row(seq: int, typ: str, ts: str, data: dict, rid: str | None = "r1", team: str = "payments") -> Row:
    ev = {"seq": seq, "id": f"e{seq}", "ts": ts, "type": typ, "request_id": rid, "actor": "bob", "data": data,
          "prev_hash": "0", "hash": f"h{seq}"}  # fmt: skip
    info = RequestInfo(team, "succeeded", "t", None, 10.0) if rid else None
    return Row(ev, info)


def test_quantiles_are_exact_then_estimated_within_one_percent():
    q = Quantiles(cap=1000)
    for v in range(1, 1001):
        q.add(float(v))
    assert q.exact and q.quantile(0.5) == 500.5 and q.quantile(0.9) == pytest.approx(900.1)
    for v in range(1001, 100_001):
        q.add(float(v))
    assert not q.exact and len(q.hist) < 1200  # bounded, whatever the count
    assert q.quantile(0.5) == pytest.approx(50_000, rel=0.01)
    assert q.quantile(0.9) == pytest.approx(90_000, rel=0.01)


def test_the_timeline_widens_its_buckets_as_the_span_grows():
    t = Timeline()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    n = 0
    for minute in range(0, 60 * 24 * 400, 37):
        t.add(filters.ts_key(start + timedelta(minutes=minute)), "approved")
        n += 1
        assert len(t.counts) <= 2 * MAX_BUCKETS
    level, series = t.series()
    assert level == "month" and len(series) == 14  # January 2026 to February 2027
    assert sum(sum(c.values()) for _, c in series) == n
    short = Timeline()
    for minute in (0, 5, 50):
        short.add(filters.ts_key(start + timedelta(minutes=minute)), "rejected")
    level, series = short.series()
    assert level == "minute" and len(series) == 51 and series[5][1]["rejected"] == 1


def test_only_approving_votes_are_overrides_and_costs_count_once():
    r = Report(flt=EventFilter(), head=Head(9, "h9"), generated_at="2026-12-01T00:00:00.000000Z")
    decision = {
        "outcome": "pending_approval",
        "cost": {"monthly": 700.0, "currency": "USD"},
        "violations": [{"set": "cost", "rule": "team_budget_exceeded", "enforcement": "soft-mandatory"}],
    }
    rows = [
        _row(1, "policy.evaluated", "2026-12-01T10:00:00.000000Z", {"decision": decision}),
        _row(2, "request.pending_approval", "2026-12-01T10:00:00.000000Z", {}),
        _row(3, "approval.recorded", "2026-12-01T11:00:00.000000Z",
             {"verdict": "reject", "override": True, "comment": "no", "groups": ["finance"]}),
        _row(4, "approval.recorded", "2026-12-01T12:00:00.000000Z",
             {"verdict": "approve", "override": True, "comment": "yes", "groups": ["finance"]}),
        _row(5, "request.approved", "2026-12-01T12:00:00.000000Z", {}),
        _row(6, "request.pending_approval", "2026-12-01T13:00:00.000000Z", {}),  # sent back by the re-check
        _row(7, "request.approved", "2026-12-01T13:30:00.000000Z", {}),
        _row(8, "execution.succeeded", "2026-12-01T13:31:00.000000Z", {}),
        _row(9, "token.created", "2026-12-01T14:00:00.000000Z", {"name": "x"}, rid=None),
    ]  # fmt: skip
    for row in rows:
        r.add(row)
    assert r.overrides_total == 1 and r.overrides[0]["justification"] == "yes"
    assert r.overrides[0]["rules"] == ["cost/team_budget_exceeded"]
    assert r.cost_by_team == {"payments": 700.0} and r.approved_by_team["payments"] == 1
    assert r.lead.n == 2 and r.lead.quantile(0.5) == pytest.approx(4500)  # 2 h and 30 min: one per round
    assert not r.open  # the request ended: nothing kept about it
    assert r.events == 9 and r.last_hash == "h9" and r.recent_requests() == ["r1"]


def test_an_empty_period_still_makes_a_report(gateway, auditor):
    page = _report(gateway, auditor, team="nobody")
    assert _tile(page, "events") == "0" and "No policy decisions in the period." in page
    assert "No request has events in the period." in page and page.rstrip().endswith("</html>")
