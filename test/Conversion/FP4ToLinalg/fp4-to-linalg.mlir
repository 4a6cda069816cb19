// RUN: fp4-opt %s -split-input-file -convert-fp4-to-linalg -verify-diagnostics | FileCheck %s

// A W4A16 linear layer: the NVFP4 weight is expanded through exact decode
// tables (16 E2M1 values, 256 UE4M3 values) and multiplied by the global
// scale, written transposed ([K, N]); the contraction is lhs x rhs^T in
// float32 with loops (k, m, n), rounded once to bf16.
// CHECK-DAG: #[[WIN:.*]] = affine_map<(d0, d1) -> (d0, d1 floordiv 2)>
// CHECK-DAG: #[[WOUT:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-DAG: #[[LHS:.*]] = affine_map<(d0, d1, d2) -> (d1, d0)>
// CHECK-DAG: #[[RHS:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func.func @w4a16
// CHECK-DAG: %[[CODES:.*]] = arith.constant dense<[0.000000e+00, 5.000000e-01, 1.000000e+00, 1.500000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 6.000000e+00, -0.000000e+00, -5.000000e-01, -1.000000e+00, -1.500000e+00, -2.000000e+00, -3.000000e+00, -4.000000e+00, -6.000000e+00]> : tensor<16xf32>
// CHECK-DAG: %[[DATA:.*]] = arith.constant dense<{{.*}}> : tensor<8x16xi8>
// CHECK: %[[W:.*]] = linalg.generic {indexing_maps = [#[[WIN]], {{.*}}, #[[WOUT]]]{{.*}} ins(%[[DATA]], %{{.*}}, %{{.*}} : tensor<8x16xi8>, tensor<8x2xf8E4M3FN>, tensor<f32>) outs(%{{.*}} : tensor<32x8xf32>) attrs = {fp4.cpu_transpose}
// CHECK: linalg.index 1
// CHECK: arith.shrui
// CHECK: tensor.extract %[[CODES]]
// CHECK: arith.bitcast %{{.*}} : f8E4M3FN to i8
// CHECK: arith.mulf
// CHECK: %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[LHS]], #[[RHS]], #[[OUT]]], iterator_types = ["reduction", "parallel", "parallel"]} ins(%{{.*}}, %[[W]] : tensor<4x32xbf16>, tensor<32x8xf32>) outs(%{{.*}} : tensor<4x8xf32>) attrs = {fp4.cpu_contraction}
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: linalg.generic {{.*}} ins(%[[ACC]] : tensor<4x8xf32>) outs(%{{.*}} : tensor<4x8xbf16>)
// CHECK: arith.truncf
// CHECK-NOT: fp4.
func.func @w4a16(%x: tensor<4x32xbf16>) -> tensor<4x8xbf16> {
  %w = fp4.constant data(dense<18> : tensor<8x16xi8>) scales(dense<2.0> : tensor<8x2xf8E4M3FN>) global_scale(dense<0.5> : tensor<f32>) : !fp4.qtensor<8x32xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %w : tensor<4x32xbf16>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<4x8xbf16>
  return %y : tensor<4x8xbf16>
}

// -----

// Expert-batched FP8 weights with per-tensor scales, through fp4.assemble.
// CHECK-LABEL: func.func @experts
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]{{.*}} ins(%arg1, %arg2 : tensor<2x8x32xi8>, tensor<f32>) outs(%{{.*}} : tensor<2x32x8xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel", "parallel"]
func.func @experts(%x: tensor<2x4x32xf32>, %d: tensor<2x8x32xi8>, %s: tensor<f32>) -> tensor<2x4x8xf32> {
  %w = fp4.assemble %d, %s : tensor<2x8x32xi8>, tensor<f32> -> !fp4.qtensor<2x8x32xf8E4M3FN, fp8>
  %y = fp4.scaled_matmul %x, %w : tensor<2x4x32xf32>, !fp4.qtensor<2x8x32xf8E4M3FN, fp8> -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// A bias is added to the f32 sums before the one rounding to bf16: [N]
// broadcast over rows, or [E, N] (one per expert).
// CHECK-DAG: #[[ROWS:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[EXPERTS:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @bias
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]
// CHECK: %[[BIASED:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[ROWS]], #{{.*}}], iterator_types = ["parallel", "parallel"]} ins(%[[SUM]], %arg1 : tensor<4x8xf32>, tensor<8xbf16>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} ins(%[[BIASED]] : tensor<4x8xf32>) outs(%{{.*}} : tensor<4x8xbf16>)
// CHECK: arith.truncf
func.func @bias(%x: tensor<4x32xbf16>, %b: tensor<8xbf16>) -> tensor<4x8xbf16> {
  %w = fp4.constant data(dense<18> : tensor<8x16xi8>) scales(dense<2.0> : tensor<8x2xf8E4M3FN>) global_scale(dense<0.5> : tensor<f32>) : !fp4.qtensor<8x32xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %w bias(%b : tensor<8xbf16>) : tensor<4x32xbf16>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<4x8xbf16>
  return %y : tensor<4x8xbf16>
}
// CHECK-LABEL: func.func @expert_bias
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel", "parallel"]
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[EXPERTS]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[SUM]], %arg3 : tensor<2x4x8xf32>, tensor<2x8xf32>)
// CHECK-NOT: arith.extf
// CHECK: arith.addf
func.func @expert_bias(%x: tensor<2x4x32xf32>, %d: tensor<2x8x32xi8>, %s: tensor<f32>, %b: tensor<2x8xf32>) -> tensor<2x4x8xf32> {
  %w = fp4.assemble %d, %s : tensor<2x8x32xi8>, tensor<f32> -> !fp4.qtensor<2x8x32xf8E4M3FN, fp8>
  %y = fp4.scaled_matmul %x, %w bias(%b : tensor<2x8xf32>) : tensor<2x4x32xf32>, !fp4.qtensor<2x8x32xf8E4M3FN, fp8> -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// Run-time quantization of an activation: a call into the CPU runtime (the
// numerics library) fills the storage buffers, which dequantization reads.
// CHECK-LABEL: func.func private @fp4rt_quantize_byte_scales(memref<*xf32>, memref<*xi8>, memref<*xi8>, memref<*xf32>, i32, i32, i32, i32, f32) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @activation
// CHECK-DAG: %[[MEASURE:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[IN:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<4x32xf32> to memref<4x32xf32>
// CHECK: %[[DATA:.*]] = memref.alloc() : memref<4x16xi8>
// CHECK: %[[SCALES:.*]] = memref.alloc() : memref<4x2xi8>
// CHECK: %[[GLOBAL:.*]] = memref.alloc() : memref<f32>
// CHECK: call @fp4rt_quantize_byte_scales(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c0_i32, %c0_i32, %c0_i32, %c0_i32, %[[MEASURE]])
// CHECK: bufferization.to_tensor %[[DATA]] restrict writable
// CHECK: linalg.generic
func.func @activation(%x: tensor<4x32xf32>, %w: tensor<8x32xf32>) -> tensor<4x8xf32> {
  %q = fp4.quantize %x : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %q, %w : !fp4.qtensor<4x32xf4E2M1FN, nvfp4>, tensor<8x32xf32> -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A static (calibrated) amax is passed to the runtime; per-tensor FP8 takes
// float32 scales.
// CHECK-LABEL: func.func private @fp4rt_quantize_f32_scales(memref<*xf32>, memref<*xi8>, memref<*xf32>, i32, i32, i32, i32, i32, f32)
// CHECK-LABEL: func.func @static_activation
// CHECK: %[[AMAX:.*]] = arith.constant 3.500000e+00 : f32
// CHECK: call @fp4rt_quantize_f32_scales(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[AMAX]])
func.func @static_activation(%x: tensor<4x32xf32>, %w: tensor<8x32xf32>) -> tensor<4x8xf32> {
  %q = fp4.quantize %x amax(3.5) : tensor<4x32xf32> -> !fp4.qtensor<4x32xf8E4M3FN, fp8>
  %y = fp4.scaled_matmul %q, %w : !fp4.qtensor<4x32xf8E4M3FN, fp8>, tensor<8x32xf32> -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// A searched FP8 scale (search<mse>) at run time: the runtime gets the
// search (2, after per-channel 0) and no static amax.
// CHECK-LABEL: func.func @searched_fp8_scale
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[MSE:.*]] = arith.constant 2 : i32
// CHECK: call @fp4rt_quantize_f32_scales(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[ZERO]], %[[MSE]], %{{.*}})
func.func @searched_fp8_scale(%x: tensor<4x32xf32>, %w: tensor<8x32xf32>) -> tensor<4x8xf32> {
  %q = fp4.quantize %x search<mse> : tensor<4x32xf32> -> !fp4.qtensor<4x32xf8E4M3FN, fp8>
  %y = fp4.scaled_matmul %q, %w : !fp4.qtensor<4x32xf8E4M3FN, fp8>, tensor<8x32xf32> -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Disassembling a run-time quantized NVFP4 value: the runtime writes scale
// bytes as i8, bitcast to the declared f8E4M3FN.
// CHECK-LABEL: func.func @disassemble_activation
// CHECK: call @fp4rt_quantize_byte_scales
// CHECK: linalg.generic
// CHECK: arith.bitcast %{{.*}} : i8 to f8E4M3FN
func.func @disassemble_activation(%x: tensor<4x32xf32>) -> (tensor<4x16xi8>, tensor<4x2xf8E4M3FN>) {
  %q = fp4.quantize %x : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  %d, %s, %g = fp4.disassemble %q : !fp4.qtensor<4x32xf4E2M1FN, nvfp4> -> tensor<4x16xi8>, tensor<4x2xf8E4M3FN>, tensor<f32>
  return %d, %s : tensor<4x16xi8>, tensor<4x2xf8E4M3FN>
}

// -----

func.func @dynamic_activation(%x: tensor<?x32xf32>, %w: tensor<8x32xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{convert-fp4-to-linalg: cannot lower this op to the CPU yet (run-time quantization on the CPU needs a statically shaped activation, linear scales and a scheme the numerics library implements)}}
  %q = fp4.quantize %x : tensor<?x32xf32> -> !fp4.qtensor<?x32xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %q, %w : !fp4.qtensor<?x32xf4E2M1FN, nvfp4>, tensor<8x32xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// fp4.observe becomes a runtime call on the tensor as float32.
// CHECK-LABEL: func.func private @fp4rt_observe(memref<*xf32>, i64) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @observe
// CHECK: %[[F32:.*]] = linalg.generic
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: %[[BUF:.*]] = bufferization.to_buffer %[[F32]] read_only : tensor<8x16xf32> to memref<8x16xf32>
// CHECK: %[[U:.*]] = memref.cast %[[BUF]] : memref<8x16xf32> to memref<*xf32>
// CHECK: call @fp4rt_observe(%[[U]], %c5_i64)
// CHECK-NOT: fp4.observe
func.func @observe(%x: tensor<8x16xbf16>) -> tensor<8x16xbf16> {
  fp4.observe %x[5] "layer:input" : tensor<8x16xbf16>
  return %x : tensor<8x16xbf16>
}
