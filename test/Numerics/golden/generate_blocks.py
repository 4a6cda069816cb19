#!/usr/bin/env python3
"""Golden vectors for the block quantizers, produced by the reference
libraries' own code on the CPU:

  nvfp4_modelopt      modelopt NVFP4QTensor.quantize            (nvidia-modelopt)
  nvfp4_torchao       torchao NVFP4Tensor.to_nvfp4 with the per-tensor scale
                      its weight configs compute                 (torchao)
  nvfp4_ct            compressed-tensors generate_gparam + calculate_qparams
                      (llm-compressor's min-max observer) + NVFP4PackedCompressor
  mx*_floor|rceil     torchao to_mx with ScaleCalculationMode FLOOR / RCEIL
  fp8_tensor|channel  ModelOpt's FP8 export: weight_scale = amax/448 after
                      _sanitize_export_amax, (W / scale).to(float8_e4m3fn)
  nf4                 bitsandbytes quantize_4bit(quant_type="nf4")

Each case set is a stack of [8, K] float32 tensors: Gaussian, Gaussian with
outlier channels, tensors holding an all-zero block, a -0.0 block and a tiny
block, exact E2M1 midpoints under a unit MX scale, a wide dynamic range per
row, and a tensor whose maximum is tiny (1e-30, 1e-38).

Run: python3 generate_blocks.py OUTDIR  (needs torch, torchao, nvidia-modelopt,
compressed-tensors, bitsandbytes). The test suite reads the .npy files only.
Writes <set>_input.npy [C,8,K] f32, <set>_data.npy [C,...] u8,
<set>_scales.npy [C,...] u8 (raw scale bytes; f32 scales as 4 bytes) and, for
nvfp4, <set>_global.npy [C] f32 (the value the library stores).
"""
import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")
out = sys.argv[1] if len(sys.argv) > 1 else "."
torch.manual_seed(20261122)


def cases(k, tiny=True):
    g = torch.Generator().manual_seed(k)
    result = []
    result.append(torch.randn(8, k, generator=g) * 3)
    x = torch.randn(8, k, generator=g)
    x[:, 5] *= 40.0
    x[2, :] *= 25.0
    result.append(x)
    x = torch.randn(8, k, generator=g)
    x[1, :32] = 0.0
    x[3, :32] = -0.0
    x[5, :32] *= 1e-6
    result.append(x)
    mid = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0])
    x = mid.repeat(8, k // 8) * torch.where(torch.arange(k) % 3 == 0, -1.0, 1.0)
    result.append(x)
    x = torch.randn(8, k, generator=g) * torch.pow(10.0, torch.linspace(-6, 3, 8)).unsqueeze(1)
    result.append(x)
    if tiny:
        result.append(torch.randn(8, k, generator=g) * 1e-30)
        result.append(torch.randn(8, k, generator=g) * 1e-38)
    return [c.float().contiguous() for c in result]


def save(name, inputs, datas, scales, globals_=None):
    np.save(f"{out}/{name}_input.npy", np.stack([i.numpy() for i in inputs]))
    np.save(f"{out}/{name}_data.npy", np.stack([d.numpy() for d in datas]))
    np.save(f"{out}/{name}_scales.npy", np.stack([s.numpy() for s in scales]))
    if globals_ is not None:
        np.save(f"{out}/{name}_global.npy", np.array(globals_, dtype=np.float32))
    print(f"{name}: {len(inputs)} cases")


# --- NVFP4 -----------------------------------------------------------------
from modelopt.torch.quantization.qtensor.nvfp4_tensor import NVFP4QTensor

ins, ds, ss, gs = [], [], [], []
for x in cases(64):
    qt, s8, s2 = NVFP4QTensor.quantize(x.clone(), 16)
    ins.append(x); ds.append(qt._quantized_data.view(torch.uint8))
    ss.append(s8.view(torch.uint8)); gs.append(float(s2))
save("nvfp4_modelopt", ins, ds, ss, gs)

from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor, per_tensor_amax_to_scale

ins, ds, ss, gs = [], [], [], []
for x in cases(64)[:-1]:  # not 1e-38: 1/pts overflows to inf and 0*inf gives NaN payload bytes
    pts = per_tensor_amax_to_scale(torch.max(torch.abs(x)))
    t = NVFP4Tensor.to_nvfp4(x, block_size=16, per_tensor_scale=pts, is_swizzled_scales=False)
    ins.append(x); ds.append(t.qdata.view(torch.uint8)); ss.append(t.scale.view(torch.uint8))
    gs.append(float(pts))
save("nvfp4_torchao", ins, ds, ss, gs)

from compressed_tensors.quantization import QuantizationScheme
from compressed_tensors.quantization.quant_scheme import NVFP4A16
from compressed_tensors.quantization.utils.helpers import generate_gparam, calculate_qparams
from compressed_tensors.compressors.nvfp4.base import NVFP4PackedCompressor

scheme = QuantizationScheme(targets=["Linear"], **NVFP4A16)
ins, ds, ss, gs = [], [], [], []
for x in cases(64) + [torch.zeros(8, 64)]:
    gg = generate_gparam(x.amin(), x.amax())
    xg = x.reshape(8, 4, 16)
    scale, _ = calculate_qparams(xg.amin(-1), xg.amax(-1), scheme.weights, global_scale=gg)
    o = NVFP4PackedCompressor.compress({"weight": x, "weight_scale": scale, "weight_global_scale": gg}, scheme)
    ins.append(x); ds.append(o["weight_packed"]); ss.append(o["weight_scale"].view(torch.uint8))
    gs.append(float(o["weight_global_scale"].reshape(-1)[0]))
save("nvfp4_ct", ins, ds, ss, gs)

# --- MX --------------------------------------------------------------------
from torchao.prototype.mx_formats.mx_tensor import to_mx
from torchao.prototype.mx_formats.config import ScaleCalculationMode as Mode

for elem, dt in [("mxfp4", torch.float4_e2m1fn_x2), ("mxfp8_e4m3", torch.float8_e4m3fn),
                 ("mxfp8_e5m2", torch.float8_e5m2)]:
    for mode, label in [(Mode.FLOOR, "floor"), (Mode.RCEIL, "rceil")]:
        ins, ds, ss = [], [], []
        for x in cases(64):
            scale, data = to_mx(x.contiguous(), dt, 32, mode)
            ins.append(x); ds.append(data.view(torch.uint8)); ss.append(scale.view(torch.uint8))
        save(f"{elem}_{label}", ins, ds, ss)

# --- FP8 (ModelOpt export) ---------------------------------------------------
def fp8_export(x, per_channel):
    amax = x.abs().amax(1) if per_channel else x.abs().amax().reshape(1)
    amax = amax.float()
    # ModelOpt's TensorQuantizer._sanitize_export_amax and get_scaling_factor
    amax = torch.where(amax == 0, torch.tensor(448.0), amax)
    amax = amax.clamp(torch.finfo(torch.float32).tiny, torch.finfo(torch.float32).max)
    scale = amax / 448.0
    q = (x / scale[:, None] if per_channel else x / scale).to(torch.float8_e4m3fn)
    return q.view(torch.uint8), scale.view(torch.uint8)

# Cross-check the restatement against the real mtq.quantize + export flow once.
import copy
import modelopt.torch.quantization as mtq
from modelopt.torch.export.quant_utils import (get_weight_scaling_factor, get_quantization_format,
                                               to_quantized_weight, get_weight_scaling_factor_2)
for cfg, pc in [(mtq.FP8_DEFAULT_CFG, False), (mtq.FP8_PER_CHANNEL_PER_TOKEN_CFG, True)]:
    x = cases(64)[1]
    lin = torch.nn.Sequential(torch.nn.Linear(64, 8, bias=False))
    with torch.no_grad():
        lin[0].weight.copy_(x)
    mtq.quantize(lin, copy.deepcopy(cfg), lambda m: m(torch.randn(4, 64)))
    m = lin[0]
    s = get_weight_scaling_factor(m)
    q = to_quantized_weight(m.weight.data, s, get_quantization_format(m), get_weight_scaling_factor_2(m), None)
    qr, sr = fp8_export(x, pc)
    assert torch.equal(q.view(torch.uint8), qr), "FP8 export restatement disagrees with ModelOpt"

for label, pc in [("fp8_tensor", False), ("fp8_channel", True)]:
    ins, ds, ss = [], [], []
    for x in cases(64) + [torch.zeros(8, 64)]:
        q, s = fp8_export(x, pc)
        ins.append(x); ds.append(q); ss.append(s)
    save(label, ins, ds, ss)

# --- NF4 (bitsandbytes) ----------------------------------------------------
import bitsandbytes.functional as F

ins, ds, ss = [], [], []
for x in cases(128, tiny=False) + [torch.zeros(8, 128)]:
    q, st = F.quantize_4bit(x, blocksize=64, compress_statistics=False, quant_type="nf4")
    ins.append(x); ds.append(q.reshape(8, 64)); ss.append(st.absmax.view(torch.uint8))
save("nf4", ins, ds, ss)

# --- swizzled scale layout (torchao's to_blocked) -------------------------------
from torchao.prototype.mx_formats.utils import to_blocked
m = torch.arange(200 * 6, dtype=torch.int32).reshape(200, 6) % 251
np.save(f"{out}/swizzle_input.npy", m.to(torch.uint8).numpy())
np.save(f"{out}/swizzle_blocked.npy", to_blocked(m.to(torch.uint8)).numpy())
print("swizzle: 200x6")

# --- NF4 with double quantization (bitsandbytes compress_statistics) --------
g = torch.Generator().manual_seed(99)
ins, ds, ss, a2s, offs = [], [], [], [], []
for scale in (1.0, 0.02, 30.0):
    x = torch.randn(64, 1024, generator=g) * scale
    x[3, :128] = 0.0           # two all-zero NF4 blocks
    x[7, 5] *= 50.0            # an outlier
    q, st = F.quantize_4bit(x, blocksize=64, compress_statistics=True, quant_type="nf4")
    ins.append(x); ds.append(q.reshape(64, 512)); ss.append(st.absmax.view(torch.uint8))
    a2s.append(st.state2.absmax.float()); offs.append(float(st.offset))
save("nf4_dq", ins, ds, ss)
np.save(f"{out}/nf4_dq_absmax2.npy", np.stack([a.numpy() for a in a2s]))
np.save(f"{out}/nf4_dq_offset.npy", np.array(offs, dtype=np.float32))
