"""fp4mlir.quantize / dequantize: bit for bit against the golden vectors the
reference libraries produced (test/Numerics/golden, docs/formats.md)."""

import os

import numpy as np
import pytest

import fp4mlir
from conftest import GOLDEN


def golden(name):
    return np.load(os.path.join(GOLDEN, name + ".npy"))


@pytest.mark.parametrize("prefix, scheme, rule, element", [
    ("nvfp4_modelopt", "nvfp4", "modelopt", ""),
    ("nvfp4_torchao", "nvfp4", "torchao", ""),
    ("nvfp4_ct", "nvfp4", "compressed_tensors", ""),
    ("mxfp4_floor", "mxfp4", "floor", ""),
    ("mxfp4_rceil", "mxfp4", "rceil", ""),
    ("mxfp8_e4m3_floor", "mxfp8", "floor", "e4m3"),
    ("mxfp8_e4m3_rceil", "mxfp8", "rceil", "e4m3"),
    ("mxfp8_e5m2_floor", "mxfp8", "floor", "e5m2"),
    ("mxfp8_e5m2_rceil", "mxfp8", "rceil", "e5m2"),
])
def test_block_formats_match_the_references(prefix, scheme, rule, element):
    inputs, data, scales = golden(prefix + "_input"), golden(prefix + "_data"), golden(prefix + "_scales")
    globals_ = golden(prefix + "_global") if scheme == "nvfp4" else None
    for case in range(inputs.shape[0]):
        q = fp4mlir.quantize(inputs[case], scheme, rule=rule, element=element)
        assert q.shape == inputs[case].shape
        np.testing.assert_array_equal(q.data, data[case], err_msg=f"{prefix} case {case} codes")
        np.testing.assert_array_equal(q.scales, scales[case], err_msg=f"{prefix} case {case} scales")
        if globals_ is not None:
            assert np.float32(q.global_scale_stored) == globals_[case], f"{prefix} case {case} global"


@pytest.mark.parametrize("prefix, per_channel", [("fp8_tensor", False), ("fp8_channel", True)])
def test_fp8_matches_the_reference(prefix, per_channel):
    inputs, data, scales = golden(prefix + "_input"), golden(prefix + "_data"), golden(prefix + "_scales")
    for case in range(inputs.shape[0]):
        q = fp4mlir.quantize(inputs[case], "fp8", per_channel=per_channel)
        np.testing.assert_array_equal(q.data, data[case])
        np.testing.assert_array_equal(q.scales.astype(np.float32).view(np.uint8).ravel(), scales[case])


@pytest.mark.parametrize("per_channel", [True, False])
def test_fp8_scale_search_lowers_the_error(per_channel):
    x = np.random.default_rng(3).standard_t(3, (64, 256)).astype(np.float32)
    errors = {}
    for search in ("max", "mse"):
        q = fp4mlir.quantize(x, "fp8", per_channel=per_channel, block_scales=search)
        errors[search] = float(((fp4mlir.dequantize(q) - x) ** 2).sum())
        if search == "mse":  # searched scales lie in [max scale, 2 x max scale)
            ratio = q.scales.astype(np.float32) / np.float32(base.scales.astype(np.float32))
            assert ((ratio >= 1) & (ratio < 2)).all()
        base = q
    assert errors["mse"] <= errors["max"]
    if per_channel:  # rows of 256: a few % at least
        assert errors["mse"] < 0.97 * errors["max"]


def test_dequantize_is_code_times_scale():
    x = np.random.default_rng(0).standard_normal((3, 5, 64)).astype(np.float32)
    q = fp4mlir.quantize(x, "nvfp4")
    y = fp4mlir.dequantize(q)
    assert y.shape == x.shape and y.dtype == np.float32
    # E2M1 values times the block scale times the global scale: every
    # element within a quarter of its block's largest magnitude of x.
    err = np.abs(y - x).reshape(-1, 16).max(axis=1)
    amax = np.abs(x).reshape(-1, 16).max(axis=1)
    assert (err <= 0.25 * amax + 1e-6).all()
    np.testing.assert_array_equal(q.dequantize(), y)
    # The same numerics as a second call: deterministic.
    np.testing.assert_array_equal(fp4mlir.quantize(x, "nvfp4").data, q.data)


def test_float16_input_is_read_as_is():
    x = np.random.default_rng(1).standard_normal((4, 32)).astype(np.float16)
    q16 = fp4mlir.quantize(x, "mxfp4")
    q32 = fp4mlir.quantize(x.astype(np.float32), "mxfp4")
    np.testing.assert_array_equal(q16.data, q32.data)
    np.testing.assert_array_equal(q16.scales, q32.scales)


def test_errors_are_clear():
    with pytest.raises(fp4mlir.Error, match="unknown scheme 'fp3'"):
        fp4mlir.quantize(np.zeros((1, 16), np.float32), "fp3")
    with pytest.raises(fp4mlir.Error, match="unknown rule"):
        fp4mlir.quantize(np.zeros((1, 16), np.float32), "nvfp4", rule="nope")
    x = np.ones((2, 16), np.float32)
    x[1, 3] = np.nan
    with pytest.raises(fp4mlir.Error, match="(?i)nan|finite"):
        fp4mlir.quantize(x, "nvfp4")
    with pytest.raises(fp4mlir.Error):
        fp4mlir.quantize(np.ones((2, 15), np.float32), "nvfp4")
