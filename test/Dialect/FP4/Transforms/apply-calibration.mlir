// Statistics with only "amax" (as a PyTorch hook can export them) set the
// static scales; the quantize pipeline turns them into fp4.quantize amax(...)
// and the NVFP4 KV cache's static global scale.
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-apply-calibration=stats=%S/Inputs/stats-amax-only.json 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-apply-calibration=stats=%S/Inputs/stats-amax-only.json 2>/dev/null | FileCheck %s --check-prefix=ATTR
// RUN: fp4-opt %s -fp4-quantize-pipeline="preset=fp8 kv-cache=nvfp4 calibration=%S/Inputs/stats-amax-only.json" 2>/dev/null | FileCheck %s --check-prefix=STATIC
// RUN: fp4-opt %s -fp4-quantize-pipeline="preset=fp8 kv-cache=nvfp4" 2>/dev/null | FileCheck %s --check-prefix=DYNAMIC
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-apply-calibration="stats=%S/Inputs/stats-amax-only.json method=percentile" 2>&1 >/dev/null | FileCheck %s --check-prefix=PERCENTILE
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-apply-calibration="stats=%S/Inputs/stats-histogram-only.json method=mse" 2>&1 >/dev/null | FileCheck %s --check-prefix=MSE-HISTOGRAM
// RUN: not fp4-opt %s -fp4-apply-calibration="stats=%S/Inputs/stats-amax-only.json method=entropy" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not fp4-opt %s -fp4-apply-calibration=stats=%S/Inputs/missing.json 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not fp4-opt %s -fp4-apply-calibration=stats=%S/Inputs/stats-bad-amax.json 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not fp4-opt %s -fp4-apply-calibration=stats=%S/Inputs/policy.yaml 2>&1 | FileCheck %s --check-prefix=NOTJSON

// REMARK: remark: 'forward:kv_cache:arg1': amax 1.200000e+01 (max, observed max 1.200000e+01)
// REMARK: remark: 'proj.weight:input': amax 3.500000e+00 (max, observed max 3.500000e+00)
// REMARK: remark: fp4-apply-calibration: 1 observer(s) of the statistics file are not in this module

// ATTR: %{{.*}}: tensor<1x2x32x16xf32> {fp4.kv_amax = 1.200000e+01 : f32}
// ATTR: linalg.matmul {fp4.act_amax = 3.500000e+00 : f32, fp4.activations = "fp8"

// STATIC: fp4.quantize %{{.*}} amax(1.200000e+01) : tensor<1x2x4x16xf32> -> !fp4.qtensor<1x2x4x16xf4E2M1FN, nvfp4>
// STATIC: fp4.quantize %{{.*}} amax(3.500000e+00) : tensor<4x16xf32> -> !fp4.qtensor<4x16xf8E4M3FN, fp8>
// DYNAMIC: fp4.quantize %{{.*}} amax(2.688000e+03) : tensor<1x2x4x16xf32>
// DYNAMIC: fp4.quantize %{{.*}} : tensor<4x16xf32> -> !fp4.qtensor<4x16xf8E4M3FN, fp8>

// PERCENTILE: remark: 'forward:kv_cache:arg1' not calibrated: the statistics have no histogram (needed by percentile)
// PERCENTILE: remark: 'proj.weight:input' not calibrated: the statistics have no histogram (needed by percentile)
// Statistics with a histogram and no samples: mse searches the histogram
// for the per-tensor FP8 activation; the NVFP4 cache's block scales need
// sampled rows.
// MSE-HISTOGRAM: remark: 'forward:kv_cache:arg1' not calibrated: the statistics have no sampled rows, and an mse search over the histogram alone fits only per-tensor FP8
// MSE-HISTOGRAM: remark: 'proj.weight:input': amax 3.500000e+00 (mse, observed max 3.500000e+00)
// METHOD: error: fp4-apply-calibration: method 'entropy' is not one of max, percentile, mse
// MISSING: error: fp4-apply-calibration: {{.*}}missing.json: No such file or directory
// BAD: error: fp4-apply-calibration: {{.*}}stats-bad-amax.json: observer 'proj.weight:input': expects "amax", a finite number >= 0
// NOTJSON: error: fp4-apply-calibration: {{.*}}policy.yaml: not JSON
func.func @forward(%x: tensor<4x16xf32>, %cache: tensor<1x2x32x16xf32>, %k: tensor<1x2x4x16xf32>) -> (tensor<4x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x8x16xf32>) {
  %c = tensor.insert_slice %k into %cache[0, 0, 4, 0] [1, 2, 4, 16] [1, 1, 1, 1] : tensor<1x2x4x16xf32> into tensor<1x2x32x16xf32>
  %r = tensor.extract_slice %c[0, 0, 0, 0] [1, 2, 8, 16] [1, 1, 1, 1] : tensor<1x2x32x16xf32> to tensor<1x2x8x16xf32>
  %w = arith.constant {fp4.param_name = "proj.weight"} dense<0.5> : tensor<16x16xf32>
  %wt0 = tensor.empty() : tensor<16x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x16xf32>) outs(%wt0 : tensor<16x16xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %h = linalg.matmul ins(%x, %wt : tensor<4x16xf32>, tensor<16x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %h, %c, %r : tensor<4x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x8x16xf32>
}
