"""The BLAS thread policy of the runner and the CLI."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from semalign.errors import InputError
from semalign.threads import ENV, blas_policy, blas_threads


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_policy_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert blas_threads() == 1
    assert blas_threads("3") == 3 and blas_threads("system") is None
    monkeypatch.setenv(ENV, "2")
    assert blas_threads() == 2
    for bad in ("0", "-1", "many"):
        with pytest.raises(InputError, match=ENV):
            blas_threads(bad)


def test_policy_limits_numpy_and_scipy_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    before = _blas_threads()
    with blas_policy() as n:
        assert n == 1 and _blas_threads() == {1}
    assert _blas_threads() == before
    with blas_policy(None) as n:
        assert n is None and _blas_threads() == before
