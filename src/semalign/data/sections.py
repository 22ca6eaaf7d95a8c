"""Split free-text radiology reports into sections (FINDINGS, IMPRESSION, ...).

MIMIC-CXR reports are plain text with upper-case headings ending in a colon at the start of a
line (``FINDINGS:``, ``IMPRESSION:``), sometimes merged (``FINDINGS AND IMPRESSION:``) or
renamed (``CONCLUSION:``, ``SUMMARY:``); text may start on the heading's line or below it.
Reports flattened to one line (common in CSVs) are split at the usual headings found anywhere
after a space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^[ \t]*([A-Z][A-Z /&()\-]{1,60}?)[ \t]*:", re.MULTILINE)
_KNOWN = (
    "FINDINGS AND IMPRESSION|FINDINGS/IMPRESSION|FINDINGS|FINDING|IMPRESSIONS|IMPRESSION|"
    "CONCLUSIONS|CONCLUSION|INDICATION|COMPARISON|TECHNIQUE|HISTORY|EXAMINATION|"
    "CLINICAL HISTORY|RECOMMENDATIONS?"
)
_INLINE = re.compile(rf"(?:^|(?<=\s))({_KNOWN})[ \t]*:")

_FINDINGS = {"FINDINGS", "FINDING", "FINDINGS/IMPRESSION", "FINDINGS AND IMPRESSION"}
_IMPRESSION = {
    "IMPRESSION",
    "IMPRESSIONS",
    "CONCLUSION",
    "CONCLUSIONS",
    "SUMMARY",
    "FINDINGS/IMPRESSION",
    "FINDINGS AND IMPRESSION",
    "IMPRESSION AND RECOMMENDATIONS",
    "IMPRESSION AND RECOMMENDATION",
}


@dataclass(frozen=True)
class ReportSections:
    """The findings and impression of a report (None when absent), whitespace-normalised."""

    findings: str | None
    impression: str | None
    sections: dict[str, str]


def normalise_whitespace(text: str) -> str:
    """Collapse runs of spaces, tabs and newlines into single spaces."""
    return " ".join(text.split())


def split_sections(text: str) -> dict[str, str]:
    """Heading -> body for every upper-case ``HEADING:`` at a line start; text before the first
    heading is kept under ``PREAMBLE``. Repeated headings are joined in order."""
    out: dict[str, str] = {}
    matches: list[re.Match[str]] = []
    for m in sorted([*_HEADING.finditer(text), *_INLINE.finditer(text)], key=lambda m: m.start()):
        if matches and m.start() < matches[-1].end():
            continue
        matches.append(m)
    if not matches:
        body = normalise_whitespace(text)
        return {"PREAMBLE": body} if body else {}
    pre = normalise_whitespace(text[: matches[0].start()])
    if pre:
        out["PREAMBLE"] = pre
    for m, nxt in zip(matches, [*matches[1:], None], strict=True):
        name = " ".join(m.group(1).split())
        body = normalise_whitespace(text[m.end() : nxt.start() if nxt else len(text)])
        out[name] = f"{out[name]} {body}".strip() if name in out else body
    return out


def extract_sections(text: str) -> ReportSections:
    """FINDINGS and IMPRESSION of a free-text report; merged headings fill both."""
    sections = split_sections(text)
    findings = " ".join(v for k, v in sections.items() if k in _FINDINGS and v) or None
    impression = " ".join(v for k, v in sections.items() if k in _IMPRESSION and v) or None
    return ReportSections(findings=findings, impression=impression, sections=sections)
