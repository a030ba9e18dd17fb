"""The audit report as JSON (for CI and tools) and Markdown (for pull requests)."""

from __future__ import annotations

import json

from ._audit import AuditReport
from ._model import Finding, Severity
from ._rules import RULES
from ._wording import counted

MARKS = {"shown": "●", "kept": "◆", "": "·"}
LEGEND = "● shown to the desk at the check, ◆ shown and kept afterwards, · never shown"


def render_json(report: AuditReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"


def verdict(report: AuditReport) -> str:
    """One sentence: may this set of policies be signed?"""
    counts = ", ".join(
        counted(report.total(severity), name)
        for severity, name in ((Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.NOTE, "note"))
    )
    if report.approved:
        return f"Approvable: no policy has an error ({counts})."
    blocked = [audit.id for audit in report.policies if audit.count(Severity.ERROR)]
    return (
        f"Not approvable: {len(blocked)} of {counted(len(report.policies), 'policy', 'policies')} "
        f"{'has' if len(blocked) == 1 else 'have'} errors "
        f"({', '.join(blocked)}; {counts})."
    )


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _finding_line(finding: Finding) -> str:
    where = f" ({_cell(finding.location())})" if finding.location() else ""
    line = f"- **{finding.severity.value}** `{finding.rule}`{where}: {_cell(finding.message)}"
    if finding.acknowledged:
        line += f" *Acknowledged:* {_cell(finding.acknowledged)}"
    return line


def render_markdown(report: AuditReport) -> str:
    out = [f"# Policy audit, {report.date.isoformat()}", "", f"**{verdict(report)}**", "", "## Policies", ""]
    out += ["| Policy | Desk | Claims | Keeps | Paper | Result |", "|---|---|---|---|---|---|"]
    for audit in report.policies:
        policy = audit.policy
        status = audit.status.value if audit.status else "ok"
        if policy is None:
            out.append(f"| `{_cell(audit.source)}` | (unreadable) | | | | {status} |")
            continue
        out.append(
            f"| `{policy.id}` {_cell(policy.title['en'])} | {_cell(policy.verifier)} | {', '.join(policy.claim_names)} "
            f"| {_cell(policy.retention.describe())} | {'yes' if policy.accepts_paper else 'no'} | {status} |"
        )
    out += ["", "## Findings", ""]
    for audit in report.policies:
        out.append(f"### {audit.id} (`{_cell(audit.source)}`)")
        out.append("")
        out += [_finding_line(finding) for finding in audit.findings] or ["No findings."]
        out.append("")
    columns = report.claim_columns
    out += ["## Disclosure matrix", "", LEGEND, ""]
    out += ["| Policy | " + " | ".join(f"`{c}`" for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for audit in report.policies:
        if audit.policy:
            marks = (MARKS[report.disclosure(audit.policy, claim)] for claim in columns)
            out.append(f"| `{audit.policy.id}` | " + " | ".join(marks) + " |")
    out += ["", "## Linkability", "", LINKABILITY_NOTE, ""]
    for pair in report.linkable_pairs():
        strength = "can single out and match residents" if pair.singles_out else "share some identifying values"
        out.append(f"- `{pair.first}` and `{pair.second}` {strength}: {', '.join(pair.shared)}")
    if not report.linkable_pairs():
        out.append("- No two policies receive the same identifying claim.")
    out += ["", "## What each party stores", ""]
    for party in report.parties:
        if not party.built:
            out.append(f"- **{party.party}**: not part of this build ({party.source}).")
            continue
        items = "; ".join(
            f"{i.what} ({'personal data' if i.personal_data else 'no personal data'})" for i in party.items
        )
        out.append(
            f"- **{party.party}**: {items or 'nothing'}. Per event: {party.per_event}. Source: `{party.source}`."
        )
    for audit in report.policies:
        if audit.policy:
            out.append(f"- **Desk under `{audit.policy.id}`**: keeps {_cell(audit.policy.retention.describe())}.")
    out += ["", "## Rules", "", "| Rule | Up to | Checks |", "|---|---|---|"]
    out += [f"| `{rule.id}` | {rule.severity.value} | {_cell(rule.summary)} |" for rule in RULES.values()]
    return "\n".join(out) + "\n"


LINKABILITY_NOTE = (
    "Every proof comes from a fresh one-time credential, so no signature, key or status index links two visits. "
    "What a desk is shown can still link them: a desk that learns only yes/no facts (resident_of, age_over_N) sees "
    "the same answer as thousands of others, but two desks that each learn a resident's name or date of birth can "
    "match their records by those values."
)
