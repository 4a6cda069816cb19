//===- Passes.td - fp4 dialect transformations -----------*- tablegen -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_TRANSFORMS_PASSES_TD
#define FP4_DIALECT_FP4_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def FP4FoldConstants : Pass<"fp4-fold-constants"> {
  let summary = "Quantize constant weights at compile time into fp4.constant";
  let description = [{
    Replaces every `fp4.quantize` whose input is an `arith.constant` (a
    `dense` or `dense_resource` float tensor: f32, f16 or bf16) by an
    `fp4.constant` holding the packed codes and scales, computed by the
    numerics library with exactly the bytes `fp4-quant` writes for the same
    tensor, format and rule (docs/formats.md section 5).

    ```mlir
    %w = arith.constant dense_resource<w> : tensor<512x256xbf16>
    %q = fp4.quantize %w : tensor<512x256xbf16> -> !fp4.qtensor<512x256xf4E2M1FN, nvfp4>
    // becomes
    %q = fp4.constant data(dense_resource<w_fp4_data> : tensor<512x128xi8>)
                      scales(dense_resource<w_fp4_scales> : tensor<512x16xf8E4M3FN>)
                      global_scale(dense<...> : tensor<f32>)
                      : !fp4.qtensor<512x256xf4E2M1FN, nvfp4>
    ```

    The weight bytes are read in place (no copy of the input is made) and
    quantized on `threads` threads; packed data and scales larger than
    `inline-limit` bytes become `dense_resource` blobs.

    With `swizzle-scales`, block scales of NVFP4/MXFP4/MXFP8 constants whose
    every user is an fp4 op are emitted in the Blackwell 128x4 tile layout
    and the type gains `layout = swizzled`.

    Supported schemes: NVFP4 (rules modelopt, torchao, compressed_tensors),
    MXFP4/MXFP8 (floor, rceil), FP8 per-tensor, FP8 per-channel on rank-2
    weights, NF4; blocks along the last axis. Anything else is left as it is
    with a remark saying why. A constant holding NaN or Inf is an error at
    the `fp4.quantize`, naming the element.
  }];
  let options = [
    Option<"swizzleScales", "swizzle-scales", "bool", /*default=*/"false",
           "Emit block scales in the Blackwell 128x4 tile layout">,
    Option<"threads", "threads", "unsigned", /*default=*/"0",
           "Worker threads for quantization (0: all hardware threads)">,
    Option<"inlineLimit", "inline-limit", "int64_t", /*default=*/"256",
           "Largest storage part, in bytes, emitted as a dense attribute "
           "instead of a dense_resource blob">,
  ];
}

def FP4AssignPrecision : Pass<"fp4-assign-precision", "ModuleOp"> {
  let summary = "Decide the format of every linear layer from a precision policy";
  let description = [{
    Finds the linear layers of linalg programs as torch-mlir emits them
    (`linalg.matmul` / `linalg.batch_matmul` of an activation by
    `linalg.transpose` of a constant weight `[N, K]` or expert weights
    `[E, N, K]`, possibly through `linalg.broadcast`, into a zero
    `linalg.fill`; or a `linalg.generic` multiply-add computing `x * W^T`
    with the constant `[N, K]` / `[E, N, K]` read directly or through a
    transpose, named or generalized, into a zero fill), names each one (the weight constant's `fp4.param_name`
    attribute or name location) and gives it a structural role:

    * `expert`: the weight has a leading expert dimension `[E, N, K]`;
    * `router`: a rank-2 weight whose output width equals an expert count;
    * `lm_head`: the widest layer whose result reaches the function's return;
    * `attention`: the result or the activation meets an activation-by-
      activation contraction (attention scores) within a few shape ops;
    * `linear`: any other.

    The policy (a preset or a JSON file, see docs/policy.md) maps name and
    role to formats, recorded on the op as `fp4.role`, `fp4.param`,
    `fp4.weights`, `fp4.activations` and `fp4.reason`. A layer that already
    carries `fp4.weights` (and optionally `fp4.activations`) keeps that
    choice: a per-op override of the policy. Layers kept in float, or whose
    shapes a format cannot take, get a remark saying why.
  }];
  let options = [
    Option<"preset", "preset", "std::string", /*default=*/"\"moe-fp4-fp8\"",
           "Policy preset: moe-fp4-fp8, nvfp4, nvfp4-weight-only, mxfp4, mxfp4-mxfp8, fp8">,
    Option<"policyFile", "policy", "std::string", /*default=*/"\"\"",
           "JSON policy file (overrides the preset)">,
  ];
  let dependentDialects = ["::mlir::fp4::FP4Dialect"];
}

def FP4QuantizeLinalg : Pass<"fp4-quantize-linalg", "ModuleOp"> {
  let summary = "Rewrite the linear layers fp4-assign-precision selected into fp4 ops";
  let description = [{
    Replaces each linear layer annotated by `fp4-assign-precision` with
    `fp4.quantize` of its weight (folded into `fp4.constant` by
    `fp4-fold-constants`), dynamic `fp4.quantize` of its activation when the
    decision quantizes activations (per-tensor FP8 or per-block FP4/MX scales
    derived at run time), and `fp4.scaled_matmul`:

    ```mlir
    %t = linalg.transpose ins(%w : tensor<128x64xf32>) outs(...) permutation = [1, 0]
    %y = linalg.matmul ins(%x, %t : tensor<8x64xf32>, tensor<64x128xf32>) outs(%zero : ...)
    // becomes
    %wq = fp4.quantize %w : tensor<128x64xf32> -> !fp4.qtensor<128x64xf8E4M3FN, fp8_per_channel>
    %xq = fp4.quantize %x : tensor<8x64xf32> -> !fp4.qtensor<8x64xf8E4M3FN, fp8>
    %y = fp4.scaled_matmul %xq, %wq : ... -> tensor<8x128xf32>
    ```

    An `nn.Linear` bias folds into the matmul: when the layer's result (or
    its `tensor.expand_shape` that keeps N a dimension of its own) is used
    only by an elementwise `linalg.generic` adding a `[N]` tensor broadcast
    along everything but N (`[E, N]` indexed by expert, for stacked expert
    weights), that add becomes `fp4.scaled_matmul`'s `bias`, added to the
    FP32 sums before the one rounding.

    With `report`, writes what was decided and what it cost (per layer:
    name, role, formats, weight bytes before and after, weight SQNR; totals;
    KV caches with their bytes per token before and after, quantized or not)
    as JSON plus a table, to a file or `-` (stdout).
  }];
  let options = [
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Write the quantization report to this file ('-': stdout)">,
    Option<"weightBlockScales", "weight-block-scales", "std::string",
           /*default=*/"\"max\"",
           "NVFP4 weights' block scales: max, four_over_six or mse "
           "(fp4.quantize search<...>)">,
    Option<"weightFP8Scales", "weight-fp8-scales", "std::string",
           /*default=*/"\"max\"",
           "FP8 weights' tensor or channel scales: max, or mse (the least "
           "squared error of 64 scales from max to 2x max; fp4.quantize "
           "search<mse>)">,
  ];
  let dependentDialects = ["::mlir::fp4::FP4Dialect"];
}

def FP4InsertObservers : Pass<"fp4-insert-observers", "ModuleOp"> {
  let summary = "Observe every activation and KV-cache write the precision policy quantizes";
  let description = [{
    For a module annotated by `fp4-assign-precision`, inserts `fp4.observe`
    in front of each linear layer whose activations are quantized with a
    per-tensor quantity (FP8 per tensor, NVFP4's global scale) and in front
    of each KV-cache write (`tensor.insert_slice` of a cache argument). The
    observers are numbered 0, 1, ... in program order and named
    `<parameter>:input` (the layer's weight name, or `layer<N>` without one)
    and `<function>:kv_cache:arg<N>`: `fp4-apply-calibration` finds the same
    names in the same module. The float program is otherwise unchanged; run
    it on calibration inputs (`fp4-calibrate` does) to fill the statistics.
  }];
  let dependentDialects = ["::mlir::fp4::FP4Dialect"];
}

def FP4ApplyCalibration : Pass<"fp4-apply-calibration", "ModuleOp"> {
  let summary = "Set static activation and KV-cache scales from calibration statistics";
  let description = [{
    Reads a statistics file (JSON, as `fp4-calibrate --stats` writes it or as
    any tool can, `docs/calibration.md`), chooses an amax for each observer
    name of `fp4-insert-observers` by `method` (`max`, `percentile`, `mse`),
    and records it: `fp4.act_amax` on the linear layer (from which
    `fp4-quantize-linalg` emits `fp4.quantize ... amax(A)`) and `fp4.kv_amax`
    on a cache argument (the static global scale of an NVFP4 cache). Each
    decision is a remark; a layer without statistics stays dynamic, with a
    remark. `mse` quantizes the sampled rows at 0.25 to 1.5 times the
    observed max through the numerics library and keeps the least squared
    error; for per-tensor FP8 without samples, it searches over the
    histogram instead. Statistics must come from the same model, smoothed by
    `fp4-smooth` or not (the module's `fp4.smoothed` and the file's
    `smooth_alpha`), with one exception: with `max`, the float model's
    statistics fit a smoothed module, whose smoothed layers' maxima are
    `max_j channel_amax_j / s_j` (from their `fp4.smooth_inverse`).
  }];
  let options = [
    Option<"statsFile", "stats", "std::string", /*default=*/"\"\"",
           "The statistics file (JSON)">,
    Option<"method", "method", "std::string", /*default=*/"\"max\"",
           "max, percentile or mse">,
    Option<"percentile", "percentile", "double", /*default=*/"99.99",
           "percentile: the share of values (percent) under the amax">,
  ];
  let dependentDialects = ["::mlir::fp4::FP4Dialect"];
}

def FP4Smooth : Pass<"fp4-smooth", "ModuleOp"> {
  let summary = "Migrate activation outliers into the weights (SmoothQuant), from calibration statistics";
  let description = [{
    For each activation that the precision policy quantizes with a
    per-tensor quantity (the observation points of `fp4-insert-observers`),
    reads the per-channel maxima `a_j` of its last dimension from the
    statistics file (`channel_amax`), takes the weights' per-input-channel
    maxima `w_j` over every layer that reads the activation (q/k/v share
    one), and scales by `s_j = a_j^alpha / w_j^(1 - alpha)`:

    ```
    y = x W^T = (x * (1/s)) (W * s)^T
    ```

    The weight constants are replaced by `W * s` (column j times `s_j`).
    The activation's `1/s` folds into the per-channel multiply that
    produces it when there is one: a `linalg.generic` multiplying by a
    constant vector along the last dimension (a norm's weight, as torch-mlir
    emits RMSNorm), seen through reshapes that keep the last dimension and
    read by nothing else. With `fold-into-weights`, it also folds into the
    weight rows of a linear layer whose output (or a last-dimension slice
    of it) is a factor of an elementwise product that the activation is
    (SwiGLU's up projection for down_proj). That saves the multiply but
    widens the range of that layer's weights, and cost 1-3.5% of W4A4 error
    on the bundled models (docs/calibration.md), so it is off by default.
    Otherwise a `linalg.generic` multiplying by the
    constant `1/s` goes before the layers. The float function is unchanged
    up to rounding. Channels with `a_j = 0` or `w_j = 0` keep `s_j = 1`. A
    group is skipped, with a remark, when it has no statistics, its weights
    are not f32 constants used only by it, or shapes disagree. Each
    smoothed layer keeps `1/s` as `fp4.smooth_inverse`. Statistics of the
    activation are stale afterwards: calibrate again (`fp4-calibrate
    --smooth-alpha` does both), or, for the max method, let
    `fp4-apply-calibration` derive the smoothed maxima from the float
    model's channel maxima (`fp4-quantize-pipeline{smooth-alpha=...}`).
  }];
  let options = [
    Option<"statsFile", "stats", "std::string", /*default=*/"\"\"",
           "The statistics file (JSON) with channel_amax">,
    Option<"alpha", "alpha", "double", /*default=*/"0.5",
           "Migration strength in [0, 1]">,
    Option<"foldIntoWeights", "fold-into-weights", "bool", /*default=*/"false",
           "Also fold 1/s into the weight rows of the layer producing a "
           "factor of the activation (SwiGLU's up projection)">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect"];
}

def FP4QuantizeKVCache : Pass<"fp4-quantize-kv-cache", "ModuleOp"> {
  let summary = "Store KV caches in FP8 or NVFP4, quantized at the write, dequantized at the read";
  let description = [{
    A KV cache is a function argument that the function updates with one
    `tensor.insert_slice` (the new keys or values) spanning its last
    dimension, reads through `tensor.extract_slice` of the updated cache,
    and returns. With a format (from `format`, else the module's
    `fp4.kv_cache` set by `fp4-assign-precision`), the cache crosses the
    function boundary in a storage form, as two arguments (codes, scales)
    and two results:

    * `fp8`: `fp8_per_row`, E4M3 codes as `i8` and one FP32 scale per row,
      i.e. per token and head, derived from the new entries;
    * `nvfp4`: E2M1 codes packed two per byte and one E4M3 scale per 16
      elements of a row. Its second-level (global) scale is static, from
      `amax` (ModelOpt's rule: `amax / (6 * 448)`), so that entries written
      by different calls share it: the default 2688 makes it 1.0, which
      covers block maxima from about 0.012 to 2688. Calibration replaces it.

    Inside, the new entries are quantized (`fp4.quantize`), inserted into
    both storage parts, and the updated cache is dequantized where the
    attention reads it.

    ```mlir
    // before: %arg1 : tensor<1x4x32x16xf32>
    %c = tensor.insert_slice %k into %arg1[0, 0, 8, 0] [1, 4, 8, 16] [1, 1, 1, 1]
    // after (fp8): %arg1 : tensor<1x4x32x16xi8>, %arg2 : tensor<1x4x32x1xf32>
    %kq = fp4.quantize %k : ... -> !fp4.qtensor<1x4x8x16xf8E4M3FN, fp8_per_row>
    %kd, %ks = fp4.disassemble %kq : ...
    %d = tensor.insert_slice %kd into %arg1[0, 0, 8, 0] [1, 4, 8, 16] [1, 1, 1, 1]
    %s = tensor.insert_slice %ks into %arg2[0, 0, 8, 0] [1, 4, 8, 1] [1, 1, 1, 1]
    %c = fp4.dequantize (fp4.assemble %d, %s) ...
    ```

    Each cache gets a remark with its bytes per token before and after, and
    its codes argument the attribute `fp4.kv_cache = {format,
    bytes_per_token_before, bytes_per_token_after}` that the report of
    `fp4-quantize-linalg` reads. A cache the format cannot hold (a last
    dimension that 16 does not divide, for NVFP4) stays in float with a
    remark. `keep` leaves caches alone.
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"\"",
           "fp8, nvfp4 or keep (default: the module's fp4.kv_cache)">,
    Option<"amax", "amax", "float", /*default=*/"2688.0f",
           "nvfp4: the static amax that sets the global scale">,
  ];
  let dependentDialects = ["::mlir::fp4::FP4Dialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // FP4_DIALECT_FP4_TRANSFORMS_PASSES_TD
