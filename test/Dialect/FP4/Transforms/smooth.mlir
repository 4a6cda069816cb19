// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>/dev/null | FileCheck %s
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>/dev/null | FileCheck %s --check-prefix=NORM
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>/dev/null | FileCheck %s --check-prefix=SHARED
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>&1 >/dev/null | FileCheck %s --check-prefix=SHARED-REMARK
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth="stats=%S/Inputs/stats-amax-only.json" 2>&1 >/dev/null | FileCheck %s --check-prefix=NOCHANNELS
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>/dev/null | FileCheck %s --check-prefix=SKIPPED-RECORD
// RUN: not fp4-opt %s -fp4-smooth="stats=%S/Inputs/stats-channels.json alpha=1.5" 2>&1 | FileCheck %s --check-prefix=ALPHA
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>/dev/null | FileCheck %s --check-prefix=MARK
// RUN: not fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-smoothed.json 2>&1 | FileCheck %s --check-prefix=SMOOTHED-STATS
// RUN: not fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json -fp4-apply-calibration="stats=%S/Inputs/stats-channels.json method=percentile" 2>&1 | FileCheck %s --check-prefix=UNSMOOTHED-STATS
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json -fp4-apply-calibration=stats=%S/Inputs/stats-amax-only.json 2>&1 >/dev/null | FileCheck %s --check-prefix=NO-CHANNELS-TO-DERIVE
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json -fp4-apply-calibration=stats=%S/Inputs/stats-channels.json 2>&1 >/dev/null | FileCheck %s --check-prefix=DERIVED
// RUN: fp4-opt %s -fp4-quantize-pipeline="preset=fp8 calibration=%S/Inputs/stats-channels.json smooth-alpha=0.5" 2>/dev/null | FileCheck %s --check-prefix=PIPELINE
// RUN: not fp4-opt %s -fp4-quantize-pipeline="preset=fp8 smooth-alpha=0.5" 2>&1 | FileCheck %s --check-prefix=PIPELINE-NO-STATS
// RUN: not fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-apply-calibration=stats=%S/Inputs/stats-smoothed.json 2>&1 | FileCheck %s --check-prefix=SMOOTHED-STATS-APPLY
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json -fp4-apply-calibration=stats=%S/Inputs/stats-smoothed.json 2>/dev/null | FileCheck %s --check-prefix=FITS
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth="stats=%S/Inputs/stats-channels.json fold-into-weights" 2>/dev/null | FileCheck %s --check-prefix=SWIGLU
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth="stats=%S/Inputs/stats-channels.json fold-into-weights" 2>&1 >/dev/null | FileCheck %s --check-prefix=SWIGLU-REMARK
// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-smooth=stats=%S/Inputs/stats-channels.json 2>&1 >/dev/null | FileCheck %s --check-prefix=SWIGLU-DEFAULT

// Activation channel maxima a = [8, 2, 0.5, 0], weight column maxima
// w = [2, 2, 0.5, 4]; alpha 0.5: s = sqrt(a / w) = [2, 1, 1, 1] (a = 0 keeps
// 1). The weight's columns are multiplied by s, the activation by 1/s.
// REMARK: remark: fp4-smooth: 'proj.weight:input': factors 1.000000e+00 to 2.000000e+00 (alpha 5.000000e-01), 1/s as a multiply before the layers
// REMARK: remark: fp4-smooth: 'q.weight:input' and 1 more: factors 1.000000e+00 to 2.000000e+00 (alpha 5.000000e-01), 1/s folded into the preceding per-channel multiply
// CHECK: %[[W:.*]] = arith.constant {fp4.param_name = "proj.weight"} dense<{{\[}}[2.000000e+00, 2.000000e+00, 5.000000e-01, 1.000000e+00], [4.000000e+00, 1.000000e+00, 5.000000e-01, 4.000000e+00]]> : tensor<2x4xf32>
// CHECK: %[[INV:.*]] = arith.constant dense<[5.000000e-01, 1.000000e+00, 1.000000e+00, 1.000000e+00]> : tensor<4xf32>
// CHECK: %[[XS:.*]] = linalg.generic {{.*}} ins(%arg0, %[[INV]] : tensor<4x4xf32>, tensor<4xf32>)
// CHECK: arith.mulf
// CHECK: linalg.matmul {{.*}} ins(%[[XS]], %{{.*}} : tensor<4x4xf32>, tensor<4x2xf32>)
// NOCHANNELS: remark: fp4-smooth: 'proj.weight:input' not smoothed: no channel_amax in the statistics
// A layer left alone is recorded as such (a unit fp4.smooth_inverse).
// SKIPPED-RECORD: linalg.matmul {{{.*}}fp4.param = "gate.weight"{{.*}}fp4.smooth_inverse, fp4.weights
// ALPHA: error: fp4-smooth: alpha must be in [0, 1], got 1.5

// The module records the alpha, so that statistics of the float model are
// never applied to the smoothed one, nor the reverse.
// MARK: module attributes {{{.*}}fp4.smoothed = 5.000000e-01 : f64}
// TWICE: error: fp4-smooth: the module is already smoothed (alpha 5.000000e-01); smoothing twice would compound the factors
// SMOOTHED-STATS: error: fp4-smooth: the statistics in '{{.*}}stats-smoothed.json' were gathered on a model smoothed with alpha 0.500000, this module is the unsmoothed model; gather statistics on this module (fp4-calibrate without --smooth-alpha)
// The float model's maxima do fit a smoothed module: the layers keep 1/s
// (fp4.smooth_inverse), and the smoothed activation's maximum is
// max_j c_j / s_j = max(8/2, 2, 0.5, 0) = 4. Layers not smoothed keep the
// file's amax (8). Percentiles and sampled errors do not follow.
// UNSMOOTHED-STATS: error: fp4-apply-calibration: the statistics in '{{.*}}stats-channels.json' were gathered on the unsmoothed model and this module is smoothed: only method max can use them (the smoothed maxima follow from channel_amax); for percentile, gather statistics on this module (fp4-calibrate --smooth-alpha)
// NO-CHANNELS-TO-DERIVE: remark: 'proj.weight:input' not calibrated: the layer is smoothed and the statistics have no channel_amax of 4 channels to derive its maximum from
// DERIVED: remark: 'proj.weight:input': amax 4.000000e+00 (max, smoothed from the float model's channel maxima, observed max 8.000000e+00)
// DERIVED: remark: 'q.weight:input': amax 4.000000e+00 (max, smoothed
// DERIVED: remark: 'proj.weight:input#2': amax 8.000000e+00 (max, observed max 8.000000e+00)
// The pipeline's smooth-alpha: fp4-smooth, then the derived static scales.
// PIPELINE: module attributes {{{.*}}fp4.smoothed = 5.000000e-01 : f64}
// PIPELINE-LABEL: func.func @forward(
// PIPELINE: arith.constant dense<[5.000000e-01, 1.000000e+00, 1.000000e+00, 1.000000e+00]> : tensor<4xf32>
// PIPELINE: fp4.quantize {{.*}} amax(4.000000e+00)
// PIPELINE-NO-STATS: error: fp4-smooth: no statistics file (stats=..., or the pipeline's calibration=...)
// SMOOTHED-STATS-APPLY: error: fp4-apply-calibration: the statistics in '{{.*}}stats-smoothed.json' were gathered on a model smoothed with alpha 0.500000, this module is the unsmoothed model
// FITS: fp4.act_amax
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

// A norm's weight (a per-channel multiply by a constant, through a reshape
// that keeps the last dimension) absorbs 1/s, and both layers reading the
// normed activation share s: a = [8, 2, 0.5, 0], w = max over q and k =
// [2, 2, 0.5, 4], so s = [2, 1, 1, 1] and the norm weight [1, 1, 1, 1]
// becomes [0.5, 1, 1, 1]; no multiply is added.
// NORM-LABEL: func.func @normed(
// NORM: %[[NW:.*]] = arith.constant {fp4.param_name = "norm.weight"} dense<[5.000000e-01, 1.000000e+00, 1.000000e+00, 1.000000e+00]> : tensor<4xf32>
// NORM: linalg.generic {{.*}} ins(%arg0, %[[NW]] : tensor<1x4x4xf32>, tensor<4xf32>)
// NORM: %[[Q:.*]] = arith.constant {fp4.param_name = "q.weight"} dense<{{\[}}[2.000000e+00, 2.000000e+00, 5.000000e-01, 1.000000e+00], [4.000000e+00, 1.000000e+00, 5.000000e-01, 4.000000e+00]]>
// NORM: %[[K:.*]] = arith.constant {fp4.param_name = "k.weight"} dense<{{\[}}[2.000000e+00, 1.000000e+00, 5.000000e-01, 1.000000e+00], [2.000000e+00, 1.000000e+00, 5.000000e-01, 1.000000e+00]]>
// NORM-NOT: linalg.generic
// NORM: linalg.matmul
func.func @normed(%h: tensor<1x4x4xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %nw = arith.constant {fp4.param_name = "norm.weight"} dense<1.0> : tensor<4xf32>
  %e0 = tensor.empty() : tensor<1x4x4xf32>
  %normed = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%h, %nw : tensor<1x4x4xf32>, tensor<4xf32>) outs(%e0 : tensor<1x4x4xf32>) {
  ^bb0(%in: f32, %w: f32, %out: f32):
    %m = arith.mulf %in, %w : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4xf32>
  %x = tensor.collapse_shape %normed [[0, 1], [2]] : tensor<1x4x4xf32> into tensor<4x4xf32>
  %q = arith.constant {fp4.param_name = "q.weight"} dense<[[1.0, 2.0, 0.5, 1.0], [2.0, 1.0, 0.5, 4.0]]> : tensor<2x4xf32>
  %k = arith.constant {fp4.param_name = "k.weight"} dense<[[1.0, 1.0, 0.5, 1.0], [1.0, 1.0, 0.5, 1.0]]> : tensor<2x4xf32>
  %qt0 = tensor.empty() : tensor<4x2xf32>
  %qt = linalg.transpose ins(%q : tensor<2x4xf32>) outs(%qt0 : tensor<4x2xf32>) permutation = [1, 0]
  %kt0 = tensor.empty() : tensor<4x2xf32>
  %kt = linalg.transpose ins(%k : tensor<2x4xf32>) outs(%kt0 : tensor<4x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %yq = linalg.matmul ins(%x, %qt : tensor<4x4xf32>, tensor<4x2xf32>) outs(%z : tensor<4x2xf32>) -> tensor<4x2xf32>
  %yk = linalg.matmul ins(%x, %kt : tensor<4x4xf32>, tensor<4x2xf32>) outs(%z : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %yq, %yk : tensor<4x2xf32>, tensor<4x2xf32>
}

// One weight (one transpose of it) read by two layers with different
// activations: scaling it for one would change the other, so both are
// skipped.
// SHARED-REMARK: remark: fp4-smooth: 'proj.weight:input#2' not smoothed: a weight constant (or a view of it) has other users
// SHARED-REMARK: remark: fp4-smooth: 'proj.weight:input#3' not smoothed: a weight constant (or a view of it) has other users
// SHARED-LABEL: func.func @shared_weight(
// SHARED: arith.constant {fp4.param_name = "proj.weight"} dense<{{\[}}[1.000000e+00, 2.000000e+00, 5.000000e-01, 1.000000e+00], [2.000000e+00, 1.000000e+00, 5.000000e-01, 4.000000e+00]]>
// SHARED-NOT: linalg.generic
// SHARED: return
func.func @shared_weight(%x: tensor<4x4xf32>, %x2: tensor<4x4xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %w = arith.constant {fp4.param_name = "proj.weight"} dense<[[1.0, 2.0, 0.5, 1.0], [2.0, 1.0, 0.5, 4.0]]> : tensor<2x4xf32>
  %wt0 = tensor.empty() : tensor<4x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x4xf32>) outs(%wt0 : tensor<4x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x4xf32>, tensor<4x2xf32>) outs(%z : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y2 = linalg.matmul ins(%x2, %wt : tensor<4x4xf32>, tensor<4x2xf32>) outs(%z : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y, %y2 : tensor<4x2xf32>, tensor<4x2xf32>
}

// SwiGLU with fold-into-weights: the down projection reads act(gate) * up,
// so channel j of its input is row j of up's output: 1/s folds into up's
// weight rows (a = [8,
// 2, 0.5, 0], down's column maxima [2, 2, 0.5, 4], s = [2, 1, 1, 1]: up's
// row 0 is halved) and no multiply is added.
// SWIGLU-REMARK: remark: fp4-smooth: 'down.weight:input': factors 1.000000e+00 to 2.000000e+00 (alpha 5.000000e-01), 1/s folded into the rows of 'up.weight'
// Without the option (the default) it stays a multiply.
// SWIGLU-DEFAULT: remark: fp4-smooth: 'down.weight:input': {{.*}}, 1/s as a multiply before the layers
// SWIGLU-LABEL: func.func @swiglu(
// SWIGLU-DAG: arith.constant {fp4.param_name = "up.weight"} dense<{{\[}}[1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00], [3.000000e+00, 3.000000e+00, 3.000000e+00, 3.000000e+00], [1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00], [1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00]]> : tensor<4x4xf32>
// SWIGLU-DAG: arith.constant {fp4.param_name = "down.weight"} dense<{{\[}}[2.000000e+00, 2.000000e+00, 5.000000e-01, 1.000000e+00], [4.000000e+00, 1.000000e+00, 5.000000e-01, 4.000000e+00]]> : tensor<2x4xf32>
// SWIGLU-NOT: arith.constant dense<[5.000000e-01, 1.000000e+00, 1.000000e+00, 1.000000e+00]> : tensor<4xf32>
// SWIGLU: return
func.func @swiglu(%x: tensor<4x4xf32>) -> tensor<4x2xf32> {
  %up = arith.constant {fp4.param_name = "up.weight"} dense<[[2.0, 2.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %gate = arith.constant {fp4.param_name = "gate.weight"} dense<0.5> : tensor<4x4xf32>
  %down = arith.constant {fp4.param_name = "down.weight"} dense<[[1.0, 2.0, 0.5, 1.0], [2.0, 1.0, 0.5, 4.0]]> : tensor<2x4xf32>
  %zero = arith.constant 0.0 : f32
  %t0 = tensor.empty() : tensor<4x4xf32>
  %upt = linalg.transpose ins(%up : tensor<4x4xf32>) outs(%t0 : tensor<4x4xf32>) permutation = [1, 0]
  %t1 = tensor.empty() : tensor<4x4xf32>
  %gatet = linalg.transpose ins(%gate : tensor<4x4xf32>) outs(%t1 : tensor<4x4xf32>) permutation = [1, 0]
  %e0 = tensor.empty() : tensor<4x4xf32>
  %z0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %hg = linalg.matmul ins(%x, %gatet : tensor<4x4xf32>, tensor<4x4xf32>) outs(%z0 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %e1 = tensor.empty() : tensor<4x4xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %hu = linalg.matmul ins(%x, %upt : tensor<4x4xf32>, tensor<4x4xf32>) outs(%z1 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %e2 = tensor.empty() : tensor<4x4xf32>
  %act = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%hg : tensor<4x4xf32>) outs(%e2 : tensor<4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<4x4xf32>
  %e3 = tensor.empty() : tensor<4x4xf32>
  %h = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%act, %hu : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e3 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<4x4xf32>
  %t2 = tensor.empty() : tensor<4x2xf32>
  %downt = linalg.transpose ins(%down : tensor<2x4xf32>) outs(%t2 : tensor<4x2xf32>) permutation = [1, 0]
  %e4 = tensor.empty() : tensor<4x2xf32>
  %z4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%h, %downt : tensor<4x4xf32>, tensor<4x2xf32>) outs(%z4 : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
