// RUN: fp4-opt %s -split-input-file -fp4-assign-precision -verify-diagnostics | FileCheck %s
// RUN: fp4-opt %s -split-input-file -fp4-assign-precision=preset=nvfp4-weight-only -verify-diagnostics | FileCheck %s --check-prefix=W4A16

// A mixture-of-experts block in torch-mlir's form, with no parameter names:
// the structure alone finds the experts ([E, N, K] weights) and the router
// (one output per expert). Default preset moe-fp4-fp8.
// CHECK-LABEL: func.func @moe_unnamed
// CHECK: linalg.matmul {fp4.activations = "none", fp4.reason = "preset moe-fp4-fp8", fp4.role = "router", fp4.weights = "keep"}
// CHECK: linalg.batch_matmul {fp4.activations = "nvfp4", fp4.reason = "preset moe-fp4-fp8", fp4.role = "expert", fp4.weights = "nvfp4"}
// CHECK: linalg.matmul {fp4.activations = "fp8", fp4.reason = "preset moe-fp4-fp8", fp4.role = "linear", fp4.weights = "fp8_per_channel"}
// W4A16-LABEL: func.func @moe_unnamed
// W4A16: fp4.role = "router", fp4.weights = "keep"
// W4A16: fp4.activations = "none", {{.*}}fp4.role = "expert", fp4.weights = "nvfp4"
// W4A16: fp4.activations = "none", {{.*}}fp4.role = "linear", fp4.weights = "nvfp4"
func.func @moe_unnamed(%x: tensor<8x64xf32>, %xe: tensor<4x8x64xf32>) -> (tensor<8x4xf32>, tensor<4x8x32xf32>, tensor<8x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %router = arith.constant dense<0.5> : tensor<4x64xf32>
  %experts = arith.constant dense<0.25> : tensor<4x32x64xf32>
  %dense = arith.constant dense<0.125> : tensor<32x64xf32>
  %rt_init = tensor.empty() : tensor<64x4xf32>
  %rt = linalg.transpose ins(%router : tensor<4x64xf32>) outs(%rt_init : tensor<64x4xf32>) permutation = [1, 0]
  %r_init = tensor.empty() : tensor<8x4xf32>
  %r_fill = linalg.fill ins(%zero : f32) outs(%r_init : tensor<8x4xf32>) -> tensor<8x4xf32>
  // expected-remark @+1 {{kept in float: role router (preset }}
  %r = linalg.matmul ins(%x, %rt : tensor<8x64xf32>, tensor<64x4xf32>) outs(%r_fill : tensor<8x4xf32>) -> tensor<8x4xf32>
  %et_init = tensor.empty() : tensor<4x64x32xf32>
  %et = linalg.transpose ins(%experts : tensor<4x32x64xf32>) outs(%et_init : tensor<4x64x32xf32>) permutation = [0, 2, 1]
  %e_init = tensor.empty() : tensor<4x8x32xf32>
  %e_fill = linalg.fill ins(%zero : f32) outs(%e_init : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %e = linalg.batch_matmul ins(%xe, %et : tensor<4x8x64xf32>, tensor<4x64x32xf32>) outs(%e_fill : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %dt_init = tensor.empty() : tensor<64x32xf32>
  %dt = linalg.transpose ins(%dense : tensor<32x64xf32>) outs(%dt_init : tensor<64x32xf32>) permutation = [1, 0]
  %d_init = tensor.empty() : tensor<8x32xf32>
  %d_fill = linalg.fill ins(%zero : f32) outs(%d_init : tensor<8x32xf32>) -> tensor<8x32xf32>
  %d = linalg.matmul ins(%x, %dt : tensor<8x64xf32>, tensor<64x32xf32>) outs(%d_fill : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %r, %e, %d : tensor<8x4xf32>, tensor<4x8x32xf32>, tensor<8x32xf32>
}

// -----

// Names from fp4.param_name or a name location; lm_head is kept by name.
// A weight used without the nn.Linear transpose is left in float, with a
// remark saying why.
// CHECK-LABEL: func.func @named
// CHECK: fp4.param = "model.layers.0.mlp.up_proj.weight", {{.*}}fp4.weights = "fp8_per_channel"
// CHECK: fp4.param = "lm_head.weight", {{.*}}fp4.weights = "keep"
func.func @named(%x: tensor<8x64xf32>) -> (tensor<8x32xf32>, tensor<8x96xf32>, tensor<8x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %up = arith.constant {fp4.param_name = "model.layers.0.mlp.up_proj.weight"} dense<0.5> : tensor<32x64xf32>
  %head = arith.constant dense<0.5> : tensor<96x64xf32> loc("lm_head.weight")
  %kn = arith.constant dense<0.5> : tensor<64x32xf32>
  %ut_init = tensor.empty() : tensor<64x32xf32>
  %ut = linalg.transpose ins(%up : tensor<32x64xf32>) outs(%ut_init : tensor<64x32xf32>) permutation = [1, 0]
  %u_init = tensor.empty() : tensor<8x32xf32>
  %u_fill = linalg.fill ins(%zero : f32) outs(%u_init : tensor<8x32xf32>) -> tensor<8x32xf32>
  %u = linalg.matmul ins(%x, %ut : tensor<8x64xf32>, tensor<64x32xf32>) outs(%u_fill : tensor<8x32xf32>) -> tensor<8x32xf32>
  %ht_init = tensor.empty() : tensor<64x96xf32>
  %ht = linalg.transpose ins(%head : tensor<96x64xf32>) outs(%ht_init : tensor<64x96xf32>) permutation = [1, 0]
  %h_init = tensor.empty() : tensor<8x96xf32>
  %h_fill = linalg.fill ins(%zero : f32) outs(%h_init : tensor<8x96xf32>) -> tensor<8x96xf32>
  // expected-remark @+1 {{kept in float: 'lm_head.weight' role}}
  %h = linalg.matmul ins(%x, %ht : tensor<8x64xf32>, tensor<64x96xf32>) outs(%h_fill : tensor<8x96xf32>) -> tensor<8x96xf32>
  // expected-remark @+1 {{left in float: not a linear layer fp4 can take: the right operand is not linalg.transpose of a constant [N, K]}}
  %k = linalg.matmul ins(%x, %kn : tensor<8x64xf32>, tensor<64x32xf32>) outs(%u_fill : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %u, %h, %k : tensor<8x32xf32>, tensor<8x96xf32>, tensor<8x32xf32>
}

// -----

// A format whose blocks do not divide K is not applied: the layer stays in
// float and the remark says why.
// CHECK-LABEL: func.func @ragged
// CHECK: fp4.weights = "keep"
func.func @ragged(%x: tensor<8x24xf32>) -> tensor<8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<4x32x24xf32>
  %wt_init = tensor.empty() : tensor<4x24x32xf32>
  %wt = linalg.transpose ins(%w : tensor<4x32x24xf32>) outs(%wt_init : tensor<4x24x32xf32>) permutation = [0, 2, 1]
  %xe = tensor.empty() : tensor<4x8x24xf32>
  %e_init = tensor.empty() : tensor<4x8x32xf32>
  %e_fill = linalg.fill ins(%zero : f32) outs(%e_init : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  // expected-remark @+1 {{; scheme 'nvfp4' needs the last dimension (24) to be static and a multiple of 16)}}
  %e = linalg.batch_matmul ins(%xe, %wt : tensor<4x8x24xf32>, tensor<4x24x32xf32>) outs(%e_fill : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %c = tensor.collapse_shape %e [[0, 1], [2]] : tensor<4x8x32xf32> into tensor<32x32xf32>
  %s = tensor.extract_slice %c[0, 0] [8, 32] [1, 1] : tensor<32x32xf32> to tensor<8x32xf32>
  return %s : tensor<8x32xf32>
}

// -----

// A decision written on the op overrides the policy (here: keep an expert
// layer in MXFP4 weight-only instead of the preset's NVFP4 W4A4).
// CHECK-LABEL: func.func @override
// CHECK: fp4.activations = "none", fp4.reason = "per-op override", fp4.role = "expert", fp4.weights = "mxfp4"
func.func @override(%xe: tensor<4x8x64xf32>) -> tensor<4x8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %experts = arith.constant dense<0.25> : tensor<4x32x64xf32>
  %et_init = tensor.empty() : tensor<4x64x32xf32>
  %et = linalg.transpose ins(%experts : tensor<4x32x64xf32>) outs(%et_init : tensor<4x64x32xf32>) permutation = [0, 2, 1]
  %e_init = tensor.empty() : tensor<4x8x32xf32>
  %e_fill = linalg.fill ins(%zero : f32) outs(%e_init : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %e = linalg.batch_matmul {fp4.weights = "mxfp4"} ins(%xe, %et : tensor<4x8x64xf32>, tensor<4x64x32xf32>) outs(%e_fill : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  return %e : tensor<4x8x32xf32>
}
