"""Policy files: TOML text in, a policy and its findings out, with line numbers for people.

``tomllib`` gives values but not where they were written, so :func:`field_lines` reads the
text once more to map each dotted key (``claims.birthdate.justification``) to its line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

from ._model import Finding, Policy, Severity
from ._validate import build_policy

MAX_POLICY_BYTES = 64 * 1024

_TABLE = re.compile(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A policy file after reading: the policy when it is well-formed, and what was found."""

    source: str
    policy: Policy | None
    findings: tuple[Finding, ...]
    lines: dict[str, int]
    """Dotted field path to line, so later rules can point at the line too."""

    def locate(self, field: str) -> int | None:
        return locate_in(self.lines, field)


def _dotted(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in re.split(r"\.(?=(?:[^\"']*[\"'][^\"']*[\"'])*[^\"']*$)", key))


def field_lines(text: str) -> dict[str, int]:
    """The line (1-based) of each table header and key in TOML ``text``, by dotted path."""
    lines: dict[str, int] = {}
    table = ""
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if header := _TABLE.match(line):
            table = _dotted(header.group(1))
            lines.setdefault(table, number)
            continue
        if key := _KEY.match(line):
            path = f"{table}.{_dotted(key.group(1))}" if table else _dotted(key.group(1))
            lines.setdefault(path, number)
            rest = line[key.end() :]
            for quotes in ('"""', "'''"):
                if rest.count(quotes) % 2 == 1:
                    in_multiline = quotes
    return lines


def locate_in(lines: dict[str, int], field: str) -> int | None:
    """The line of ``field``, or of the nearest enclosing table or key that has one."""
    while field:
        if field in lines:
            return lines[field]
        inside = [line for path, line in lines.items() if path.startswith(field + ".")]
        if inside:  # a table written only as [field.member] sections
            return min(inside)
        field = field.rpartition(".")[0]
    return None


def parse_policy_text(text: str | bytes, source: str) -> LoadedPolicy:
    """Read one policy file's content; ``source`` names it in findings."""
    if len(text) > MAX_POLICY_BYTES:
        return _broken(source, f"a policy file is at most {MAX_POLICY_BYTES // 1024} KB", None)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _broken(source, f"the file is not UTF-8 (byte {exc.start})", None)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = _TOML_POSITION.search(str(exc))
        message = _TOML_POSITION.sub("", str(exc)).replace("(at end of document)", "at the end of the file").strip()
        line = int(position.group(1)) if position else max(1, len(text.splitlines()))
        return _broken(source, f"not valid TOML: {message}", line)
    except RecursionError:
        return _broken(source, "not valid TOML: nested too deeply", None)
    lines = field_lines(text)
    policy, findings = build_policy(data, source=source, locate=lambda field: locate_in(lines, field))
    return LoadedPolicy(source, policy, tuple(findings), lines)


def _broken(source: str, message: str, line: int | None) -> LoadedPolicy:
    finding = Finding(rule="schema", severity=Severity.ERROR, message=message, source=source, line=line)
    return LoadedPolicy(source, None, (finding,), {})
