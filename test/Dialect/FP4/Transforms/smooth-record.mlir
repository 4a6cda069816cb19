// RUN: not fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-apply-calibration=stats=%S/Inputs/stats-channels.json 2>&1 | FileCheck %s
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-apply-calibration=stats=%S/Inputs/stats-smoothed.json 2>/dev/null | FileCheck %s --check-prefix=OWN

// A module smoothed (fp4.smoothed) whose layers carry no record of it
// (fp4.smooth_inverse: the factors, or a unit attribute for a layer left
// alone), as an older fp4-smooth left them or a rewrite that dropped the
// attribute: the float model's statistics cannot be adjusted, and using
// them as they are would clip wherever s_j < 1. An error, not a guess.
// CHECK: error: fp4-apply-calibration: layer 'proj.weight:input' of the smoothed module has no record of its smoothing (fp4.smooth_inverse), so the float model's statistics in '{{.*}}stats-channels.json' cannot be adjusted for it; gather statistics on this module (fp4-calibrate --smooth-alpha)
// Statistics of the smoothed model itself still apply.
// OWN: fp4.act_amax
module attributes {fp4.smoothed = 5.000000e-01 : f64} {
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
}
