"""The PyTorch front end: parameter naming (no torch needed) and, where torch
and torch-mlir are installed, an export."""

import os

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


def test_names_that_are_not_identifiers_mark_the_constant_only():
    weight = np.arange(4, dtype=np.float32)
    text = EXPORTED.replace("HEX", weight.tobytes().hex().upper())
    named, renames = name_parameters(text, {"0.weight": weight.tobytes()})
    assert renames == {"torch_tensor_2_2_torch.float32": "0.weight"}
    module = fp4mlir.Module.parse(named)
    assert 'fp4.param_name = "0.weight"' in str(module)
    assert "dense_resource<torch_tensor_2_2_torch.float32>" in str(module)


def test_unmatched_blobs_keep_their_names():
    text = EXPORTED.replace("HEX", "00" * 16)
    named, renames = name_parameters(text, {"fc.weight": b"\x01" * 16})
    assert renames == {} and named == text


def test_export_quantize_compile_run():
    """The walk-through of docs/python.md: export, quantize, compile, run."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_mlir")
    torch.manual_seed(0)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.Linear(64, 256, bias=False)
            self.down = torch.nn.Linear(256, 64, bias=False)

        def forward(self, x):
            return self.down(torch.nn.functional.silu(self.up(x)))

    model = Block()
    x = torch.randn(1, 8, 64)
    module = fp4mlir.pytorch.export(model, (x,))
    text = str(module)
    assert 'fp4.param_name = "up.weight"' in text and "dense_resource<down.weight>" in text
    float_out = fp4mlir.compile(module.clone(), _tmp("float.so"))(x.numpy())[0]
    expected = model(x).detach().numpy()
    assert np.linalg.norm(float_out - expected) / np.linalg.norm(expected) < 1e-5
    report = fp4mlir.quantize_model(module, preset="nvfp4-weight-only")
    assert {layer["name"] for layer in report["layers"]} == {"up.weight", "down.weight"}
    assert all(layer["weights"] == "nvfp4" for layer in report["layers"])
    (y,) = fp4mlir.compile(module, _tmp("w4a16.so"))(x.numpy())
    # Two NVFP4 layers in series: relative error about sqrt(2) * 0.09.
    assert 0 < np.linalg.norm(y - expected) / np.linalg.norm(expected) < 0.25


def _tmp(name):
    import tempfile

    return os.path.join(tempfile.mkdtemp(prefix="fp4mlir-test-"), name)


def test_routed_experts_become_gathered_matmuls():
    """Experts applied to routed rows (W[ids], bmm, b[ids]) export to a
    gather of the weights, which quantize_model fuses into
    fp4.gathered_matmul: the compiled library takes the ids and matches
    PyTorch, a negative id included."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_mlir")
    torch.manual_seed(0)

    class Experts(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(4, 32, 64) / 8)
            self.b = torch.nn.Parameter(torch.randn(4, 32) / 8)

        def forward(self, x, ids):
            return torch.bmm(self.w[ids], x.unsqueeze(-1)).squeeze(-1) + self.b[ids]

    model = Experts()
    x, ids = torch.randn(6, 64), torch.tensor([0, 3, -1, 2, 1, 1])
    module = fp4mlir.pytorch.export(model, (x, ids))
    expected = model(x, ids).detach().numpy()
    report = fp4mlir.quantize_model(module, preset="nvfp4-weight-only")
    assert [(l["name"], l["role"], l["weights"]) for l in report["layers"]] == [("w", "expert", "nvfp4")]
    text = str(module)
    assert "fp4.gathered_matmul" in text and "bias(" in text and "linalg.batch_matmul" not in text
    (y,) = fp4mlir.compile(module, _tmp("routed.so"))(x.numpy(), ids.numpy())
    # One NVFP4 layer: relative error about 0.09.
    assert 0 < np.linalg.norm(y - expected) / np.linalg.norm(expected) < 0.15
