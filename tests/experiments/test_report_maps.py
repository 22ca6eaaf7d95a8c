"""The report's sentences on what each map is and on n/a rows refused for the anchors' rank."""

from __future__ import annotations

from semalign.experiments.report.maps import rank_na, what_maps_are


def test_rank_refusals_name_counts_and_ranks_not_a_lack_of_anchors() -> None:
    rows = [
        {"method": "affine", "anchors": "512", "note": "skipped: anchors' rank 383 < 384 needed"},
        {"method": "affine", "anchors": "512", "note": "skipped: anchors' rank 382 < 384 needed"},
        {"method": "affine", "anchors": "16", "note": "skipped: needs >= 385 anchors"},
        {"method": "orthogonal", "anchors": "512", "note": ""},
    ]
    (sentence,) = rank_na(rows)
    assert sentence.startswith("`affine` is n/a at 512 anchors not for want of anchors")
    assert "(382-383) is below the 384 source dimensions" in sentence
    assert "`ridge-cv`" in sentence
    assert rank_na(rows[2:]) == []


def test_what_maps_are_says_partial_isometry_and_affine_under_standard() -> None:
    text = what_maps_are(["orthogonal", "ridge-cv"], ["standard"])
    assert "partial isometry of rank k - 1" in text
    assert "cross-validation on the anchors alone" in text
    assert "T is a general affine map" in text
    assert "least squares with a bias, a general" not in text  # only the task's own methods
    assert what_maps_are([], []) == ""


def test_a_map_described_once_is_pointed_back_to() -> None:
    said: set[str] = set()
    first = what_maps_are(["orthogonal", "affine"], ["standard"], said)
    assert "`orthogonal` is Procrustes" in first and "under scaling `standard`" in first
    again = what_maps_are(["orthogonal", "ridge-cv"], ["standard"], said)
    assert "`orthogonal` is" not in again and "`ridge-cv` is" in again
    assert "(the others as described above)" in again
    assert what_maps_are(["affine"], ["standard"], said) == "What each map is: as described above."
