"""numpy and torch inputs: the same numbers, returned in the caller's library and dtype."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.align import Aligner

from ._planted import planted

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("scaling", ["standard", "center-l2"])
def test_torch_in_torch_out_same_numbers(scaling: str) -> None:
    x, y, _, _ = planted(200, 6, 8)
    from_np = Aligner("affine", scaling).fit(x, y)
    from_torch = Aligner("affine", scaling).fit(torch.from_numpy(x), torch.from_numpy(y))
    np.testing.assert_allclose(from_torch.weight_, from_np.weight_, atol=1e-12)
    xt = torch.from_numpy(x[:10]).float()
    out = from_np.transform(xt)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), from_np.transform(x[:10]), rtol=1e-4, atol=1e-4)
    back = from_np.inverse_transform(out.double())
    assert back.dtype == torch.float64


def test_numpy_dtype_is_kept() -> None:
    x, y, _, _ = planted(100, 5, 5)
    aligner = Aligner().fit(x.astype(np.float32), y)
    assert aligner.transform(x.astype(np.float32)).dtype == np.float32
    assert aligner.transform(x).dtype == np.float64
    assert aligner.transform(x.astype(np.int64)).dtype == np.float64
    assert aligner.weight_.dtype == np.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_stay_on_device() -> None:
    x, y, _, _ = planted(100, 5, 5)
    aligner = Aligner().fit(torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda())
    out = aligner.transform(torch.from_numpy(x).cuda().half())
    assert out.is_cuda and out.dtype == torch.float16
