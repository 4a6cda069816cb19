// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>/dev/null | FileCheck %s
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth="stats=%S/Inputs/stats-amax-only.json" 2>&1 >/dev/null | FileCheck %s --check-prefix=NOCHANNELS
// RUN: not fp4-opt %s -fp4-smooth="stats=%S/Inputs/stats-channels.json alpha=1.5" 2>&1 | FileCheck %s --check-prefix=ALPHA

// Activation channel maxima a = [8, 2, 0.5, 0], weight column maxima
// w = [2, 2, 0.5, 4]; alpha 0.5: s = sqrt(a / w) = [2, 1, 1, 1] (a = 0 keeps
// 1). The weight's columns are multiplied by s, the activation by 1/s.
// REMARK: remark: fp4-smooth: 'proj.weight:input': factors 1.000000e+00 to 2.000000e+00 (alpha 5.000000e-01)
// CHECK: %[[W:.*]] = arith.constant {fp4.param_name = "proj.weight"} dense<{{\[}}[2.000000e+00, 2.000000e+00, 5.000000e-01, 1.000000e+00], [4.000000e+00, 1.000000e+00, 5.000000e-01, 4.000000e+00]]> : tensor<2x4xf32>
// CHECK: %[[INV:.*]] = arith.constant dense<[5.000000e-01, 1.000000e+00, 1.000000e+00, 1.000000e+00]> : tensor<4xf32>
// CHECK: %[[XS:.*]] = linalg.generic {{.*}} ins(%arg0, %[[INV]] : tensor<4x4xf32>, tensor<4xf32>)
// CHECK: arith.mulf
// CHECK: linalg.matmul {{.*}} ins(%[[XS]], %{{.*}} : tensor<4x4xf32>, tensor<4x2xf32>)
// NOCHANNELS: remark: fp4-smooth: 'proj.weight:input' not smoothed: no channel_amax in the statistics
// ALPHA: error: fp4-smooth: alpha must be in [0, 1], got 1.5
func.func @forward(%x: tensor<4x4xf32>) -> tensor<4x2xf32> {
  %w = arith.constant {fp4.param_name = "proj.weight"} dense<[[1.0, 2.0, 0.5, 1.0], [2.0, 1.0, 0.5, 4.0]]> : tensor<2x4xf32>
  %wt0 = tensor.empty() : tensor<4x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x4xf32>) outs(%wt0 : tensor<4x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x4xf32>, tensor<4x2xf32>) outs(%z : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
