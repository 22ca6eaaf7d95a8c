from __future__ import annotations

from semalign.data.sections import extract_sections, split_sections

MIMIC_STYLE = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough  // eval for pneumonia

 COMPARISON:  ___

 FINDINGS:

 There is no focal consolidation, pleural effusion or pneumothorax.  The
 cardiomediastinal silhouette is normal.

 IMPRESSION:

 No acute cardiopulmonary process.
"""


def test_findings_and_impression_of_a_mimic_style_report() -> None:
    s = extract_sections(MIMIC_STYLE)
    assert s.findings == (
        "There is no focal consolidation, pleural effusion or pneumothorax. "
        "The cardiomediastinal silhouette is normal."
    )
    assert s.impression == "No acute cardiopulmonary process."
    assert s.sections["INDICATION"] == "___F with cough // eval for pneumonia"
    assert s.sections["PREAMBLE"] == "FINAL REPORT"


def test_merged_heading_fills_both_and_conclusion_is_an_impression() -> None:
    s = extract_sections("FINDINGS AND IMPRESSION: Small left effusion.\n")
    assert s.findings == s.impression == "Small left effusion."
    s = extract_sections("FINDINGS: Clear lungs.\nCONCLUSION:   Normal.")
    assert (s.findings, s.impression) == ("Clear lungs.", "Normal.")


def test_report_without_headings_has_no_sections() -> None:
    s = extract_sections("Heart size normal. Lungs are clear.")
    assert s.findings is None and s.impression is None
    assert split_sections("Heart size normal.") == {"PREAMBLE": "Heart size normal."}
    assert split_sections("") == {}


def test_lower_case_colons_in_the_body_are_not_headings() -> None:
    s = extract_sections("FINDINGS: Tubes: unchanged position.\nIMPRESSION: Stable.")
    assert s.findings == "Tubes: unchanged position."


def test_one_line_reports_split_at_known_headings() -> None:
    s = extract_sections("INDICATION: cough. FINDINGS: Small effusion. IMPRESSION: Effusion.")
    assert (s.findings, s.impression) == ("Small effusion.", "Effusion.")
    assert s.sections["INDICATION"] == "cough."
    s = extract_sections("Heart normal. No PNEUMOTHORAX: none.")
    assert s.findings is None
