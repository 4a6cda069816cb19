"""The PyTorch front end: parameter naming (no torch needed) and, where torch
and torch-mlir are installed, an export."""

import numpy as np
import pytest

import fp4mlir
from fp4mlir.pytorch import name_parameters

EXPORTED = '''module {
  func.func @forward(%arg0: tensor<1x2xf32>) -> tensor<1x2xf32> {
    %0 = arith.constant dense_resource<torch_tensor_2_2_torch.float32> : tensor<2x2xf32>
    return %arg0 : tensor<1x2xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_2_2_torch.float32: "0x04000000HEX"
    }
  }
#-}
'''


def test_blobs_are_named_after_parameters():
    weight = np.arange(4, dtype=np.float32)
    text = EXPORTED.replace("HEX", weight.tobytes().hex().upper())
    named, renames = name_parameters(text, {"fc.weight": weight.tobytes(), "other": b"\x00" * 4})
    assert renames == {"torch_tensor_2_2_torch.float32": "fc.weight"}
    module = fp4mlir.Module.parse(named)
    assert 'fp4.param_name = "fc.weight"' in str(module)
    assert "dense_resource<fc.weight>" in str(module)


def test_unmatched_blobs_keep_their_names():
    text = EXPORTED.replace("HEX", "00" * 16)
    named, renames = name_parameters(text, {"fc.weight": b"\x01" * 16})
    assert renames == {} and named == text


def test_export_needs_torch_mlir():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_mlir")
    model = torch.nn.Sequential(torch.nn.Linear(64, 32))
    module = fp4mlir.pytorch.export(model, (torch.randn(1, 64),))
    assert 'fp4.param_name = "0.weight"' in str(module)
    report = fp4mlir.quantize_model(module, preset="nvfp4")
    assert report["layers"][0]["name"] == "0.weight"
