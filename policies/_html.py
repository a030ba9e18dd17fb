"""The audit report as one self-contained HTML page: no scripts, no external assets.

It reads well on screen and prints well on A4 or Letter (each policy stays on one page where
it fits, colours survive printing, the matrix fits the page width). The content security
policy forbids loading anything, so a report can be opened anywhere without calling home.
"""

from __future__ import annotations

from html import escape

from ._audit import AuditReport, PolicyAudit
from ._model import Finding, Policy
from ._report import LEGEND, LINKABILITY_NOTE, MARKS, verdict
from ._rules import RULES
from ._wording import counted, duration

_CSS = """
:root { --ink:#1b1f24; --muted:#57606a; --line:#d0d7de; --error:#b3261e; --warning:#8a5a00;
        --note:#0b5cad; --ok:#1a7f37; --bg-error:#fdecea; --bg-warning:#fff4d6; --bg-note:#e8f1fb; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", "Noto Sans Arabic", sans-serif;
       color: var(--ink); margin: 0 auto; padding: 2rem; max-width: 72rem; }
h1 { font-size: 1.7rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .75rem; border-bottom: 2px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.05rem; margin: 0 0 .25rem; }
.meta, .muted { color: var(--muted); }
.verdict { padding: .75rem 1rem; border-radius: 6px; font-weight: 600; margin: 1rem 0; }
.verdict.bad { background: var(--bg-error); color: var(--error); border-left: 6px solid var(--error); }
.verdict.good { background: #e6f4ea; color: var(--ok); border-left: 6px solid var(--ok); }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { border: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
.matrix td { text-align: center; font-size: 1.05rem; }
.matrix th.claim { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font-weight: 500; }
.matrix td.kept { background: var(--bg-warning); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; font-weight: 700;
         text-transform: uppercase; letter-spacing: .03em; }
.badge.error { background: var(--error); color: #fff; } .badge.warning { background: #e9a800; color: #1b1f24; }
.badge.note { background: var(--note); color: #fff; } .badge.ok { background: var(--ok); color: #fff; }
.policy { border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; margin: 1rem 0;
          break-inside: avoid; page-break-inside: avoid; }
.policy.error { border-left: 6px solid var(--error); } .policy.warning { border-left: 6px solid #e9a800; }
.policy.ok, .policy.note { border-left: 6px solid var(--ok); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dt { color: var(--muted); } dd { margin: 0; }
ul.findings { list-style: none; padding: 0; margin: .5rem 0 0; }
ul.findings li { padding: .35rem .5rem; margin: .25rem 0; border-radius: 4px; }
li.error { background: var(--bg-error); } li.warning { background: var(--bg-warning); }
li.note { background: var(--bg-note); }
code { font: .88em ui-monospace, "DejaVu Sans Mono", monospace; background: #f6f8fa; padding: 0 .2rem;
       border-radius: 3px; }
.translations span { margin-right: 1rem; }
nav ol { columns: 2; }
@media print {
  body { padding: 0; max-width: none; font-size: 10.5pt; }
  nav { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .matrix td, .matrix th { padding: .15rem .25rem; }
}
@page { margin: 14mm; }
"""


def _severity_badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def _finding(finding: Finding) -> str:
    where = f' <span class="muted">{escape(finding.location())}</span>' if finding.location() else ""
    acknowledged = f"<br><em>Acknowledged:</em> {escape(finding.acknowledged)}" if finding.acknowledged else ""
    return (
        f'<li class="{finding.severity.value}">{_severity_badge(finding.severity.value)} '
        f"<code>{escape(finding.rule)}</code>{where}<br>{escape(finding.message)}{acknowledged}</li>"
    )


def _translations(policy: Policy) -> str:
    spans = []
    for language, title in sorted(policy.title.items()):
        if language != "en":
            direction = ' dir="rtl"' if language.split("-")[0] in {"ar", "he", "fa", "ur"} else ""
            spans.append(f'<span lang="{escape(language)}"{direction}>{escape(title)}</span>')
    return f'<dd class="translations">{"".join(spans) or "none"}</dd>'


def _policy(audit: PolicyAudit, report: AuditReport) -> str:
    status = audit.status.value if audit.status else "ok"
    policy = audit.policy
    if policy is None:
        body = (
            f"<h3>{escape(audit.source)} {_severity_badge(status)}</h3><p>This file could not be read as a policy.</p>"
        )
    else:
        claims = "".join(
            f"<li><code>{escape(c.name)}</code>: {escape(c.justification or '(no justification)')}"
            + (f"<br><em>Why not a substitute:</em> {escape(c.why_not_substitute)}" if c.why_not_substitute else "")
            + "</li>"
            for c in policy.claims
        )
        identifying = ", ".join(report.identifying_claims(policy)) or "none"
        body = (
            f'<h3 id="{escape(policy.id)}">{escape(policy.title["en"])} {_severity_badge(status)}</h3>'
            f'<div class="muted"><code>{escape(policy.id)}</code> · {escape(audit.source)}</div><dl>'
            f"<dt>Desk</dt><dd>{escape(policy.verifier)}</dd>"
            f"<dt>Purpose</dt><dd>{escape(policy.purpose['en'])}</dd>"
            f"<dt>Legal basis</dt><dd>{escape(policy.legal_basis)}</dd>"
            f"<dt>Keeps</dt><dd>{escape(policy.retention.describe())}</dd>"
            f"<dt>Paper proofs</dt><dd>{'accepted' if policy.accepts_paper else 'not accepted'}</dd>"
            f"<dt>Revocation data</dt><dd>at most {duration(policy.max_status_age)} old</dd>"
            f"<dt>Valid until</dt><dd>{policy.valid_until.isoformat()}</dd>"
            f"<dt>Identifying</dt><dd>{escape(identifying)}</dd>"
            f"<dt>Titles</dt>{_translations(policy)}</dl>"
            f"<div>Asks for:</div><ul>{claims}</ul>"
        )
    findings = "".join(_finding(finding) for finding in audit.findings) or '<li class="note">No findings.</li>'
    return f'<section class="policy {status}">{body}<ul class="findings">{findings}</ul></section>'


def _matrix(report: AuditReport) -> str:
    columns = report.claim_columns
    head = "".join(f'<th class="claim" scope="col">{escape(c)}</th>' for c in columns)
    rows = []
    for audit in report.policies:
        if audit.policy is None:
            continue
        cells = []
        for claim in columns:
            kind = report.disclosure(audit.policy, claim)
            label = {"kept": "shown and kept", "shown": "shown", "": "not shown"}[kind]
            cells.append(f'<td class="{kind}" title="{label}" aria-label="{label}">{MARKS[kind]}</td>')
        policy_id = escape(audit.policy.id)
        rows.append(f'<tr><th scope="row"><a href="#{policy_id}">{policy_id}</a></th>{"".join(cells)}</tr>')
    return (
        f'<table class="matrix"><caption class="muted">{escape(LEGEND)}</caption>'
        f'<thead><tr><th scope="col">Policy</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _linkability(report: AuditReport) -> str:
    items = []
    for pair in report.linkable_pairs():
        strength = "can single out and match residents" if pair.singles_out else "share some identifying values"
        items.append(
            f"<li><code>{escape(pair.first)}</code> and <code>{escape(pair.second)}</code> {strength}: "
            f"{escape(', '.join(pair.shared))}</li>"
        )
    body = "".join(items) or "<li>No two policies receive the same identifying claim.</li>"
    return f"<p>{escape(LINKABILITY_NOTE)}</p><ul>{body}</ul>"


def _parties(report: AuditReport) -> str:
    rows = []
    for party in report.parties:
        if not party.built:
            stores, per_event = "<em>not part of this build</em>", ""
        else:
            stores = (
                "<br>".join(
                    f"{escape(i.what)}: {escape(i.contents)} "
                    f"({'personal data' if i.personal_data else 'no personal data'})"
                    for i in party.items
                )
                or "nothing"
            )
            per_event = escape(party.per_event)
        rows.append(
            f"<tr><th scope='row'>{escape(party.party)}</th><td>{stores}</td><td>{per_event}</td>"
            f"<td><code>{escape(party.source)}</code></td></tr>"
        )
    for audit in report.policies:
        if audit.policy:
            rows.append(
                f"<tr><th scope='row'>Desk under <code>{escape(audit.policy.id)}</code></th>"
                f"<td>{escape(audit.policy.retention.describe())}</td><td>the claims in the matrix</td>"
                f"<td><code>{escape(audit.source)}</code></td></tr>"
            )
    return (
        "<table><thead><tr><th scope='col'>Party</th><th scope='col'>Stores</th><th scope='col'>Per check</th>"
        f"<th scope='col'>Declared in</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(report: AuditReport) -> str:
    """The whole report as one HTML document."""
    good = "good" if report.approved else "bad"
    how_many = counted(len(report.policies), "policy", "policies")
    contents = "".join(f'<li><a href="#{escape(a.id)}">{escape(a.id)}</a></li>' for a in report.policies)
    policies = "".join(_policy(audit, report) for audit in report.policies)
    rules = "".join(
        f"<tr><td><code>{escape(r.id)}</code></td><td>{_severity_badge(r.severity.value)}</td><td>{escape(r.summary)}</td></tr>"
        for r in RULES.values()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>cityid policy audit, {report.date.isoformat()}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>Policy audit</h1>
<div class="meta">cityid · {how_many} · audited as of {report.date.isoformat()}</div>
<div class="verdict {good}" role="status">{escape(verdict(report))}</div>
</header>
<nav aria-label="Policies"><ol>{contents}</ol></nav>
<main>
<h2>Who can learn what</h2>
{_matrix(report)}
<h2>Linkability</h2>
{_linkability(report)}
<h2>Policies and findings</h2>
{policies}
<h2>What each party stores</h2>
{_parties(report)}
<h2>Rules</h2>
<table><thead><tr><th scope="col">Rule</th><th scope="col">Up to</th><th scope="col">Checks</th></tr></thead>
<tbody>{rules}</tbody></table>
</main>
</body>
</html>
"""
