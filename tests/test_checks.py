import pytest
import torch

from patchsim.checks import check_finite, check_image, check_shape
from patchsim.errors import ShapeError


def test_check_shape_binds_symbols():
    assert check_shape(torch.zeros(2, 3, 5, 7), ["B", "3", "H", "W"]) == {"B": 2, "H": 5, "W": 7}


@pytest.mark.parametrize("shape", [(2, 4, 5, 7), (3, 5, 7), (2, 3, 5, 7, 1)])
def test_check_shape_rejects_wrong_shape(shape):
    with pytest.raises(ShapeError, match=r"image: expected shape \(B, 3, H, W\)"):
        check_shape(torch.zeros(shape), ["B", "3", "H", "W"], "image")


def test_check_shape_repeated_symbol_must_agree():
    with pytest.raises(ShapeError, match="equal 'N'"):
        check_shape(torch.zeros(4, 5), ["N", "N"], "square")


def test_check_shape_rejects_non_tensor():
    with pytest.raises(ShapeError, match="expected a torch.Tensor"):
        check_shape([[1.0]], ["H", "W"], "x")


def test_check_finite_and_image_range():
    x = torch.zeros(1, 3, 2, 2)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ShapeError, match="NaN"):
        check_finite(x, "x")
    with pytest.raises(ShapeError, match=r"values must lie in \[0, 1\]"):
        check_image(torch.full((1, 3, 2, 2), 2.0))
