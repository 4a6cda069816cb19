#!/usr/bin/env python3
"""Inputs for the fp4-quant tests.

weight.npy / weight_bf16.npy: a [16, 64] weight with outlier channels
(float32 and bfloat16; weight_bf16_as_f32.npy holds the bfloat16 values as
float32). tiny.safetensors: a toy decoder layer's weights
(q/k/v/o projections, two experts, a norm, lm_head) saved by safetensors.
tiny_ct_reference.safetensors: the same model quantized by compressed-tensors
itself (NVFP4A16 on every Linear except lm_head, weights calibrated the way
llm-compressor's min-max observer does, then ModelCompressor.compress_model),
the interop reference fp4-quant must reproduce byte for byte.

Run: python3 generate.py (needs torch, ml_dtypes, safetensors, compressed-tensors).
"""
import os
import warnings

import ml_dtypes
import numpy as np
import torch
from safetensors.torch import save_file

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
g = torch.Generator().manual_seed(7)

w = torch.randn(16, 64, generator=g)
w[:, 3] *= 30.0
np.save(f"{here}/weight.npy", w.numpy())
w_bf16 = w.numpy().astype(ml_dtypes.bfloat16)
np.save(f"{here}/weight_bf16.npy", w_bf16)
np.save(f"{here}/weight_bf16_as_f32.npy", w_bf16.astype(np.float32))
np.save(f"{here}/weight_nan.npy", np.where(np.arange(16 * 64).reshape(16, 64) == 77, np.nan, w.numpy()).astype(np.float32))
np.save(f"{here}/weight_odd.npy", torch.randn(4, 40, generator=g).numpy())
np.save(f"{here}/weight_int.npy", np.arange(64, dtype=np.int32).reshape(2, 32))


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = torch.nn.Linear(64, 64, bias=False)
        self.k_proj = torch.nn.Linear(64, 32, bias=False)
        self.o_proj = torch.nn.Linear(64, 64, bias=False)
        self.experts = torch.nn.ModuleList([torch.nn.Linear(64, 128, bias=False) for _ in range(2)])
        self.norm = torch.nn.LayerNorm(64)
        self.lm_head = torch.nn.Linear(64, 96, bias=False)


torch.manual_seed(11)
model = Layer()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    model.experts[1].weight[:, 0] *= 20.0
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{here}/tiny.safetensors")

from compressed_tensors.quantization import QuantizationConfig, QuantizationStatus, apply_quantization_config
from compressed_tensors.quantization.quant_scheme import preset_name_to_scheme
from compressed_tensors.quantization.utils.helpers import generate_gparam, calculate_qparams
from compressed_tensors.compressors.model_compressors.model_compressor import ModelCompressor

scheme = preset_name_to_scheme("NVFP4A16", ["Linear"])
config = QuantizationConfig(config_groups={"group_0": scheme}, ignore=["lm_head"])
apply_quantization_config(model, config)
for name, module in model.named_modules():
    if isinstance(module, torch.nn.Linear) and hasattr(module, "weight_scale"):
        W = module.weight.data
        n, k = W.shape
        gs = generate_gparam(W.amin(), W.amax())
        s, _ = calculate_qparams(W.reshape(n, k // 16, 16).amin(-1), W.reshape(n, k // 16, 16).amax(-1),
                                 scheme.weights, global_scale=gs)
        with torch.no_grad():
            module.weight_global_scale.copy_(gs)
            module.weight_scale.copy_(s)
        module.quantization_status = QuantizationStatus.FROZEN
compressor = ModelCompressor.from_pretrained_model(model)
assert compressor.quantization_config.format == "nvfp4-pack-quantized"
compressor.compress_model(model)
state = {k: v.contiguous() for k, v in model.state_dict().items()}
save_file(state, f"{here}/tiny_ct_reference.safetensors")
print(sorted((k, tuple(v.shape), str(v.dtype)) for k, v in state.items()))
