"""One cell per protocol in tasks/: a setting the data cannot fill is an n/a row with its reason
from the API, the CLI and the runner alike (no abort)."""

from __future__ import annotations

import numpy as np

from semalign.tasks import retrieve, stitch, zeroshot
from semalign.tasks.zeroshot import PromptEmbeddings


def _spaces(n: int = 90, da: int = 8, db: int = 9, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    base = rng.standard_normal((n, 5)) + np.searchsorted(["a", "b", "c"], y)[:, None] * 1.5
    xa = base @ rng.standard_normal((5, da)) + 0.3 * rng.standard_normal((n, da))
    xb = base @ rng.standard_normal((5, db)) + 0.3 * rng.standard_normal((n, db))
    xa[:, -1] = xa[:, 0]  # rank da - 1: affine cannot be determined
    return xa, xb, y, np.arange(0, n, 3)


def _notes(table, **where):
    return {r.note for r in table.select(**where)}


def test_stitch_reports_na_rows_where_it_used_to_abort() -> None:
    xa, xb, y, test = _spaces()
    table = stitch(
        xa, xb, y, test=test, methods=["orthogonal", "affine"], anchor_counts=[40, 500],
        n_resamples=0,
    )  # fmt: skip
    assert _notes(table, mode="aligned", method="affine", anchors=40) == {
        "skipped: anchors' rank 7 < 8 needed"
    }
    assert all(np.isnan(r.value) for r in table.select(method="affine", anchors=40))
    assert _notes(table, mode="aligned", anchors=500) == {"skipped: only 60 train rows"}
    assert _notes(table, mode="relative", anchors=500) == {"skipped: only 60 train rows"}
    ok = table.select(mode="aligned", method="orthogonal", anchors=40)
    assert _notes(table, mode="aligned", method="orthogonal", anchors=40) == {""}
    assert all(0.0 <= r.value <= 1.0 for r in ok)


def test_retrieval_skipped_rows_carry_every_metric() -> None:
    xa, xb, _, test = _spaces()
    table = retrieve(
        xa, xb, test=test, methods=["orthogonal", "affine"], anchor_counts=[4, 40, 500],
        ks=(1, 5), n_resamples=0, naive=False,
    )  # fmt: skip
    metrics = {"recall@1", "recall@5", "mrr"}
    for k, note in ((4, "needs >= 9 anchors"), (40, "anchors' rank 7 < 8 needed"),
                    (500, "only 60 train rows")):  # fmt: skip
        rows = table.select(method="affine", anchors=k)
        assert {r.metric for r in rows} == metrics
        assert {r.note for r in rows} == {f"skipped: {note}"}
        assert {r.direction for r in rows} == {"image->report", "report->image"}
    assert {r.metric for r in table.select(method="orthogonal", anchors=40)} == metrics
    frame = table.to_frame()  # the tools researchers use, in one call
    assert len(frame) == len(table) and {"direction", "scoring", "note"} <= set(frame.columns)
    assert frame["value"].isna().sum() == sum(r.skipped for r in table)


def test_zeroshot_has_no_unaligned_control_and_skips_with_reasons() -> None:
    xa, xb, y, test = _spaces()
    classes = ["a", "b", "c"]
    prompts = PromptEmbeddings(
        classes, [xb[y == c][:3] for c in classes], [np.empty((0, xb.shape[1]))] * 3, "p"
    )
    table = zeroshot(
        xa, y, prompts, test=test, texts=xb, methods=["orthogonal", "affine"],
        anchor_counts=[40, 500], n_resamples=0,
    )  # fmt: skip
    assert {r.mode for r in table} == {"unimodal"}
    assert _notes(table, method="affine", anchors=40) == {"skipped: anchors' rank 7 < 8 needed"}
    assert _notes(table, anchors=500) == {"skipped: only 60 non-test rows"}
    assert {r.setting for r in table} == {"prompts=p rule=argmax aggregate=mean"}
    assert {r.scoring for r in table} == {"cosine"}
