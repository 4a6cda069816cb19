#!/usr/bin/env python3
"""Bundled example models, exported from PyTorch by torch-mlir.

Writes three MLIR files (linalg-on-tensors form, float32, weights inline as
`dense_resource` blobs) next to this script:

llama_block.mlir
    One Llama-style decoder layer with a KV cache, plus an embedding and an
    lm_head. `@forward(%input_ids: tensor<1x8xi64>, %k_cache, %v_cache:
    tensor<1x4x32x16xf32>) -> (logits 1x8x96, new_k_cache, new_v_cache)`.
    Hidden 64, 4 heads of 16, FFN 128 (SwiGLU), vocabulary 96, cache length
    32. The 8 new tokens sit at the fixed positions START_POS..START_POS+7
    (START_POS = 8, a Python constant): their k/v are written into the caches
    with `torch.slice_scatter` (lowered to `tensor.insert_slice`), and the
    queries attend over the cache prefix [0, START_POS + 8) (a static slice,
    `tensor.extract_slice`) with a causal mask, so the 8 cached positions
    before START_POS are read from the input cache. RoPE uses precomputed
    cos/sin buffers ([32, 16]) sliced at the same positions. Attention is
    written out (matmul, mask, softmax), not scaled_dot_product_attention.
    A final RMSNorm (`norm.weight`) precedes the lm_head, as in HF Llama.

moe_block.mlir
    A Mixtral/DeepSeek-style MoE feed-forward block (RMSNorm, router, 4
    SwiGLU experts of width 128, top-2 routing, residual) on x: tensor<1x8x64>,
    with the experts as stacked parameters `mlp.experts.gate_up_proj`
    [4, 256, 64] (rows 0..127 gate, 128..255 up) and `mlp.experts.down_proj`
    [4, 64, 128], computed densely for all experts with torch.bmm
    (`linalg.batch_matmul`) and combined with the routing weights.

moe_block_per_expert.mlir
    The same block with per-expert nn.Linear modules `mlp.experts.{i}.w1`
    (gate, [128, 64]), `w3` (up, [128, 64]) and `w2` (down, [64, 128]), as in
    Mixtral. The weights are the slices of the stacked ones (and the router
    and norm are the same), so both MoE files compute the same function.

routed_experts.mlir (`python3 generate.py routed`, which writes only it)
    Routed SwiGLU experts as a decode step computes them once a router has
    chosen: `@forward(%x: tensor<8x64xf32>, %ids: tensor<8xi64>)`, row t
    through expert ids[t] of stacked weights `experts.gate_up_proj`
    [4, 64, 64] (rows 0..31 gate, 32..63 up) and `experts.down_proj`
    [4, 64, 32], each with a bias per expert (`experts.gate_up_proj_bias`
    [4, 64], `experts.down_proj_bias` [4, 64], as gpt-oss has), gathered by
    index (`W[ids]`, `b[ids]`, which torch-mlir lowers to linalg.generic ops
    of tensor.extract, negative indices wrapped) and applied with torch.bmm
    and an add. The ids include -1 (the last expert, as torch indexes).

routed_moe_block.mlir (also from `generate.py routed`)
    The whole decode-style MoE block around those experts:
    `@forward(%x: tensor<8x64xf32>)`, router `router.weight` [4, 64],
    softmax, top-2 by two argmaxes (the first masked out before the second;
    torch.topk would lower to tm_tensor.sort), each token's row repeated
    for its two experts, the routed experts (as above, `experts.*`), and the
    two outputs combined with the renormalized probabilities.

Routing: softmax over the 4 router logits, then a top-2 mask, then the kept
probabilities renormalized (Mixtral). torch.topk lowers to `tm_tensor.sort`,
which is not an upstream MLIR op, so the top-2 mask is computed by ranks
instead: expert e is kept when fewer than 2 experts have a larger
probability (ties broken by index), all elementwise ops and reductions.

Weights: torch.manual_seed, then every Linear (and the stacked expert
weights) drawn Gaussian with the standard deviation of nn.Linear's default
uniform init (1/sqrt(3 * in_features)), and 2 random input channels (columns)
of each weight (of each expert's weight) multiplied by 20: outlier channels
like real LLM weights have. RMSNorm weights are 1 + 0.1 * N(0, 1) (distinct,
so that every blob matches exactly one tensor). The embedding is N(0, 1).

Parameter names: torch-mlir names its blobs `torch_tensor_<shape>_<dtype>`.
Each blob is matched to the module's parameter or buffer with exactly the
same bytes (float32 little-endian after the 4-byte alignment prefix
0x04000000); its resource key is renamed to the parameter name (dots kept:
MLIR resource keys may hold dots) and the arith.constant holding it gets a
discardable attribute `fp4.param_name = "<name>"`. Buffers (the RoPE tables,
the causal mask) are named the same way. Every blob must match exactly one
tensor, or the script fails.

Each file starts with RUN lines (fp4-opt parses it, with and without
-canonicalize) so that lit, which collects every .mlir under test/, checks
it stays valid; the test suite needs no PyTorch.

Run: python3 generate.py (needs torch and torch-mlir; tested with torch 2.15).
"""
import math
import os
import re
import sys

import torch
from torch import nn
from torch_mlir import fx

here = os.path.dirname(os.path.abspath(__file__))

HIDDEN = 64
HEADS = 4
HEAD_DIM = 16
FFN = 128
VOCAB = 96
CACHE_LEN = 32
SEQ = 8
START_POS = 8
EXPERTS = 4
TOP_K = 2
EPS = 1e-6
OUTLIER_SCALE = 20.0
OUTLIERS = 2


# ----------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + EPS) * self.weight


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.k_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.v_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.o_proj = nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)

    def forward(self, x, cos, sin, mask, k_cache, v_cache):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(x).view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(x).view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # Write the new keys/values into the caches at [START_POS, START_POS+s).
        new_k_cache = torch.slice_scatter(k_cache, k, dim=2, start=START_POS,
                                          end=START_POS + s)
        new_v_cache = torch.slice_scatter(v_cache, v, dim=2, start=START_POS,
                                          end=START_POS + s)
        # Attend over the cache prefix [0, START_POS + s).
        keys = new_k_cache[:, :, : START_POS + s]
        values = new_v_cache[:, :, : START_POS + s]
        scores = torch.matmul(q, keys.transpose(2, 3)) / math.sqrt(HEAD_DIM)
        scores = scores + mask
        probs = torch.softmax(scores, dim=-1)
        out = torch.matmul(probs, values)
        out = out.transpose(1, 2).reshape(b, s, HEADS * HEAD_DIM)
        return self.o_proj(out), new_k_cache, new_v_cache


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = nn.Linear(HIDDEN, FFN, bias=False)
        self.up_proj = nn.Linear(HIDDEN, FFN, bias=False)
        self.down_proj = nn.Linear(FFN, HIDDEN, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) *
                              self.up_proj(x))


class LlamaBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.input_layernorm = RMSNorm(HIDDEN)
        self.self_attn = Attention()
        self.post_attention_layernorm = RMSNorm(HIDDEN)
        self.mlp = MLP()
        self.norm = RMSNorm(HIDDEN)
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)
        # RoPE tables for every cache position (HF style, base 10000).
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
        freqs = torch.outer(torch.arange(CACHE_LEN).float(), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("rope_cos", emb.cos())
        self.register_buffer("rope_sin", emb.sin())
        # Causal mask of the new queries over the cache prefix: query i sits at
        # position START_POS + i and sees keys 0..START_POS + i.
        qpos = torch.arange(START_POS, START_POS + SEQ)[:, None]
        kpos = torch.arange(START_POS + SEQ)[None, :]
        self.register_buffer("causal_mask",
                             torch.where(kpos <= qpos, 0.0, -1e9).float())

    def forward(self, input_ids, k_cache, v_cache):
        s = input_ids.shape[1]
        cos = self.rope_cos[START_POS:START_POS + s]
        sin = self.rope_sin[START_POS:START_POS + s]
        h = self.embed_tokens(input_ids)
        attn, new_k_cache, new_v_cache = self.self_attn(
            self.input_layernorm(h), cos, sin, self.causal_mask, k_cache, v_cache)
        h = h + attn
        h = h + self.mlp(self.post_attention_layernorm(h))
        logits = self.lm_head(self.norm(h))
        return logits, new_k_cache, new_v_cache


def route(logits):
    """Softmax, top-2 mask by ranks, renormalize: [T, E] dense weights."""
    probs = torch.softmax(logits, dim=-1)
    e = torch.arange(probs.shape[-1])
    # beats[t, e, f]: expert f ranks ahead of expert e.
    pe = probs[:, :, None]
    pf = probs[:, None, :]
    beats = (pf > pe) | ((pf == pe) & (e[None, None, :] < e[None, :, None]))
    rank = beats.to(torch.float32).sum(-1)
    kept = torch.where(rank < TOP_K, probs, torch.zeros_like(probs))
    return kept / kept.sum(-1, keepdim=True)


class StackedExperts(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_up_proj = nn.Parameter(torch.empty(EXPERTS, 2 * FFN, HIDDEN))
        self.down_proj = nn.Parameter(torch.empty(EXPERTS, HIDDEN, FFN))

    def forward(self, x, weights):
        # x: [T, H], weights: [T, E]. Every expert runs on every token.
        xs = x.unsqueeze(0).expand(EXPERTS, -1, -1)                   # [E, T, H]
        gu = torch.bmm(xs, self.gate_up_proj.transpose(1, 2))         # [E, T, 2F]
        gate, up = gu[..., :FFN], gu[..., FFN:]
        act = nn.functional.silu(gate) * up                           # [E, T, F]
        out = torch.bmm(act, self.down_proj.transpose(1, 2))          # [E, T, H]
        return (out * weights.t().unsqueeze(-1)).sum(0)               # [T, H]


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Linear(HIDDEN, FFN, bias=False)
        self.w2 = nn.Linear(FFN, HIDDEN, bias=False)
        self.w3 = nn.Linear(HIDDEN, FFN, bias=False)

    def forward(self, x):
        return self.w2(nn.functional.silu(self.w1(x)) * self.w3(x))


class PerExpertExperts(nn.ModuleList):
    def forward(self, x, weights):
        out = torch.zeros_like(x)
        for i, expert in enumerate(self):
            out = out + expert(x) * weights[:, i:i + 1]
        return out


class MoEMLP(nn.Module):
    def __init__(self, per_expert):
        super().__init__()
        self.gate = nn.Linear(HIDDEN, EXPERTS, bias=False)
        self.experts = (PerExpertExperts([Expert() for _ in range(EXPERTS)])
                        if per_expert else StackedExperts())

    def forward(self, x):
        b, s, h = x.shape
        flat = x.reshape(b * s, h)
        weights = route(self.gate(flat))
        return self.experts(flat, weights).reshape(b, s, h)


class MoEBlock(nn.Module):
    def __init__(self, per_expert):
        super().__init__()
        self.post_attention_layernorm = RMSNorm(HIDDEN)
        self.mlp = MoEMLP(per_expert)

    def forward(self, x):
        return x + self.mlp(self.post_attention_layernorm(x))


# ----------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------

ROUTED_FFN = 32
ROUTED_IDS = [0, 3, 1, -1, 2, 2, 0, 1]


class RoutedExperts(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_up_proj = nn.Parameter(torch.empty(EXPERTS, 2 * ROUTED_FFN, HIDDEN))
        self.gate_up_proj_bias = nn.Parameter(torch.empty(EXPERTS, 2 * ROUTED_FFN))
        self.down_proj = nn.Parameter(torch.empty(EXPERTS, HIDDEN, ROUTED_FFN))
        self.down_proj_bias = nn.Parameter(torch.empty(EXPERTS, HIDDEN))

    def forward(self, x, ids):
        h = torch.bmm(self.gate_up_proj[ids], x.unsqueeze(-1)).squeeze(-1)
        h = h + self.gate_up_proj_bias[ids]
        a = nn.functional.silu(h[:, :ROUTED_FFN]) * h[:, ROUTED_FFN:]
        y = torch.bmm(self.down_proj[ids], a.unsqueeze(-1)).squeeze(-1)
        return y + self.down_proj_bias[ids]


class RoutedBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.experts = RoutedExperts()

    def forward(self, x, ids):
        return self.experts(x, ids)


class RoutedMoEBlock(nn.Module):
    """Router, top-2 by argmax, routed experts, weighted combination."""

    def __init__(self):
        super().__init__()
        self.router = nn.Linear(HIDDEN, EXPERTS, bias=False)
        self.experts = RoutedExperts()

    def forward(self, x):
        probs = torch.softmax(self.router(x), dim=-1)              # [T, E]
        first = torch.argmax(probs, dim=-1)                        # [T]
        masked = probs.masked_fill(
            nn.functional.one_hot(first, EXPERTS).bool(), -1.0)
        second = torch.argmax(masked, dim=-1)
        ids = torch.stack([first, second], dim=1)                  # [T, 2]
        weights = torch.gather(probs, 1, ids)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        rows = x.repeat_interleave(TOP_K, dim=0)                   # [2T, H]
        out = self.experts(rows, ids.reshape(-1)).reshape(x.shape[0], TOP_K, -1)
        return (out * weights.unsqueeze(-1)).sum(dim=1)


def linear_like(out_features, in_features):
    """Gaussian with nn.Linear's default std, plus outlier input channels."""
    w = torch.randn(out_features, in_features) / math.sqrt(3 * in_features)
    cols = torch.randperm(in_features)[:OUTLIERS]
    w[:, cols] *= OUTLIER_SCALE
    return w


def init_weights(model):
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear):
                module.weight.copy_(linear_like(*module.weight.shape))
            elif isinstance(module, RMSNorm):
                module.weight.copy_(1.0 + 0.1 * torch.randn(module.weight.shape))
            elif isinstance(module, nn.Embedding):
                module.weight.copy_(torch.randn(module.weight.shape))
            elif isinstance(module, RoutedExperts):
                for e in range(EXPERTS):
                    module.gate_up_proj[e].copy_(linear_like(2 * ROUTED_FFN, HIDDEN))
                    module.down_proj[e].copy_(linear_like(HIDDEN, ROUTED_FFN))
                module.gate_up_proj_bias.copy_(0.1 * torch.randn(module.gate_up_proj_bias.shape))
                module.down_proj_bias.copy_(0.1 * torch.randn(module.down_proj_bias.shape))
            elif isinstance(module, StackedExperts):
                for e in range(EXPERTS):
                    module.gate_up_proj[e].copy_(linear_like(2 * FFN, HIDDEN))
                    module.down_proj[e].copy_(linear_like(HIDDEN, FFN))


# ----------------------------------------------------------------------------
# Export and naming
# ----------------------------------------------------------------------------

RESOURCE_RE = re.compile(r'^(\s*)("?)([^":\s]+)\2: "0x([0-9A-Fa-f]+)"(,?)\s*$')


def name_blobs(text, module):
    """Renames the blobs after the parameters/buffers holding the same bytes."""
    tensors = dict(module.named_parameters())
    tensors.update(module.named_buffers())
    by_bytes = {}
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().tobytes()
        if data in by_bytes:
            sys.exit(f"{name} and {by_bytes[data]} hold the same bytes")
        by_bytes[data] = name

    body, sep, resources = text.partition("{-#")
    if not sep:
        sys.exit("no dialect_resources section")
    renames = {}
    out_lines = []
    for line in resources.splitlines():
        m = RESOURCE_RE.match(line)
        if m:
            indent, _, key, hexdata, comma = m.groups()
            if not hexdata.upper().startswith("04000000"):
                sys.exit(f"blob {key}: unexpected alignment prefix")
            data = bytes.fromhex(hexdata[8:])
            name = by_bytes.get(data)
            if name is None:
                sys.exit(f"blob {key} matches no parameter or buffer")
            if name in renames.values():
                sys.exit(f"{name} matched twice")
            renames[key] = name
            if not re.fullmatch(r"[A-Za-z_][\w.$]*", name):
                sys.exit(f"{name} is not a bare MLIR resource key")
            line = f'{indent}{name}: "0x{hexdata}"{comma}'
        out_lines.append(line)
    resources = "\n".join(out_lines) + ("\n" if resources.endswith("\n") else "")

    def rename(m):
        key = m.group(1)
        if key not in renames:
            sys.exit(f"dense_resource<{key}> has no blob")
        return f"dense_resource<{renames[key]}>"

    body = re.sub(r"dense_resource<([^>]+)>", rename, body)
    # arith.constant's custom form is `arith.constant attr-dict value : type`.
    body, n = re.subn(
        r"= arith\.constant dense_resource<([^>]+)>",
        lambda m: (f'= arith.constant {{fp4.param_name = "{m.group(1)}"}} '
                   f"dense_resource<{m.group(1)}>"),
        body)
    unused = set(tensors) - set(renames.values())
    return body + sep + resources, renames, unused


def export(module, inputs, filename, description):
    module.eval()
    with torch.no_grad():
        mlir = fx.export_and_import(module, *inputs,
                                    output_type="linalg-on-tensors",
                                    func_name="forward")
    text, renames, unused = name_blobs(str(mlir), module)
    header = (
        f"// {description}\n"
        "// Generated by test/Examples/models/generate.py (torch-mlir,\n"
        "// linalg-on-tensors); do not edit. Weights are dense_resource blobs\n"
        "// named after their parameters, each arith.constant carries\n"
        "// fp4.param_name.\n"
        "//\n"
        "// RUN: fp4-opt %s > /dev/null\n"
        "// RUN: fp4-opt %s --canonicalize > /dev/null\n\n")
    path = os.path.join(here, filename)
    with open(path, "w") as f:
        f.write(header + text)
    print(f"{filename}: {os.path.getsize(path)} bytes")
    shapes = {n: t.shape for n, t in module.named_parameters()}
    shapes.update({n: t.shape for n, t in module.named_buffers()})
    for key, name in renames.items():
        print(f"  {key} -> {name} {list(shapes[name])}")
    if unused:
        print(f"  not in the IR: {sorted(unused)}")
    return module


def save_io(name, inputs, outputs):
    """The example inputs and PyTorch's outputs, for the CPU integration tests
    (Inputs/<name>.input<i>.npy, Inputs/<name>.torch<i>.npy)."""
    import numpy as np
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Inputs")
    os.makedirs(folder, exist_ok=True)
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    for i, t in enumerate(inputs):
        np.save(os.path.join(folder, f"{name}.input{i}.npy"), t.numpy())
    for i, t in enumerate(outputs):
        np.save(os.path.join(folder, f"{name}.torch{i}.npy"), t.numpy())


def main_routed():
    torch.manual_seed(2)
    routed = RoutedBlock()
    init_weights(routed)
    x = torch.randn(SEQ, HIDDEN)
    ids = torch.tensor(ROUTED_IDS, dtype=torch.int64)
    export(routed, (x, ids), "routed_experts.mlir",
           "Routed SwiGLU experts: stacked weights and biases gathered by index (W[ids]), bmm.")
    with torch.no_grad():
        save_io("routed_experts", (x, ids), routed.eval()(x, ids))

    torch.manual_seed(3)
    block = RoutedMoEBlock()
    init_weights(block)
    x = torch.randn(SEQ, HIDDEN)
    export(block, (x,), "routed_moe_block.mlir",
           "A decode-style MoE block: router, top-2 by argmax, routed experts (W[ids]).")
    with torch.no_grad():
        save_io("routed_moe_block", (x,), block.eval()(x))


def main():
    if sys.argv[1:] == ["routed"]:
        return main_routed()
    torch.manual_seed(0)
    llama = LlamaBlock()
    init_weights(llama)
    input_ids = torch.randint(0, VOCAB, (1, SEQ))
    k_cache = torch.randn(1, HEADS, CACHE_LEN, HEAD_DIM)
    v_cache = torch.randn(1, HEADS, CACHE_LEN, HEAD_DIM)
    export(llama, (input_ids, k_cache, v_cache), "llama_block.mlir",
           "A Llama-style decoder block with a KV cache, embedding and lm_head.")
    with torch.no_grad():
        save_io("llama_block", (input_ids, k_cache, v_cache),
                llama.eval()(input_ids, k_cache, v_cache))

    torch.manual_seed(1)
    stacked = MoEBlock(per_expert=False)
    init_weights(stacked)
    per_expert = MoEBlock(per_expert=True)
    with torch.no_grad():
        per_expert.post_attention_layernorm.weight.copy_(
            stacked.post_attention_layernorm.weight)
        per_expert.mlp.gate.weight.copy_(stacked.mlp.gate.weight)
        for i, expert in enumerate(per_expert.mlp.experts):
            expert.w1.weight.copy_(stacked.mlp.experts.gate_up_proj[i, :FFN])
            expert.w3.weight.copy_(stacked.mlp.experts.gate_up_proj[i, FFN:])
            expert.w2.weight.copy_(stacked.mlp.experts.down_proj[i])
    x = torch.randn(1, SEQ, HIDDEN)
    with torch.no_grad():
        a, b = stacked.eval()(x), per_expert.eval()(x)
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    export(stacked, (x,), "moe_block.mlir",
           "A Mixtral-style MoE block, stacked expert weights (batch_matmul).")
    export(per_expert, (x,), "moe_block_per_expert.mlir",
           "The same MoE block with per-expert nn.Linear modules w1/w2/w3.")
    save_io("moe_block", (x,), a)


if __name__ == "__main__":
    main()
