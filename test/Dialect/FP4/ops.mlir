// Round trip of every fp4 op, in custom and generic form.
// RUN: fp4-opt %s | fp4-opt | FileCheck %s
// RUN: fp4-opt %s --mlir-print-op-generic | fp4-opt | FileCheck %s

// CHECK-LABEL: func.func @quantize_dequantize(
// CHECK-SAME: %[[X:.*]]: tensor<128x256xbf16>
func.func @quantize_dequantize(%x: tensor<128x256xbf16>) -> tensor<128x256xf32> {
  // CHECK: %[[Q:.*]] = fp4.quantize %[[X]] : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  %q = fp4.quantize %x : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  // CHECK: fp4.quantize %[[X]] rule<torchao> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  %t = fp4.quantize %x rule<torchao> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  // CHECK: fp4.quantize %[[X]] rule<rceil> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, mxfp4>
  %m = fp4.quantize %x rule<rceil> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, mxfp4>
  // CHECK: fp4.quantize %[[X]] rule<modelopt> amax(2.688000e+03) : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  %s = fp4.quantize %x rule<modelopt> amax(2688.0) : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  // CHECK: fp4.quantize %[[X]] rule<modelopt> search<mse> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  %ms = fp4.quantize %x rule<modelopt> search<mse> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  // CHECK: fp4.quantize %[[X]] search<mse> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf8E4M3FN, fp8_per_channel>
  %f8 = fp4.quantize %x search<mse> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf8E4M3FN, fp8_per_channel>
  // CHECK: fp4.quantize %[[X]] search<mse> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf8E5M2, fp8_per_row>
  %f8r = fp4.quantize %x search<mse> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf8E5M2, fp8_per_row>
  // CHECK: fp4.quantize %[[X]] search<four_over_six> amax(1.000000e+00) : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  %fs = fp4.quantize %x search<four_over_six> amax(1.0) : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  // CHECK: fp4.quantize %[[X]] amax(1.250000e+01) : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf8E4M3FN, fp8>
  %p = fp4.quantize %x amax(12.5) : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf8E4M3FN, fp8>
  // CHECK: fp4.quantize %[[X]] rule<floor> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf8E5M2, mxfp8>
  %f = fp4.quantize %x rule<floor> : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf8E5M2, mxfp8>
  // CHECK: %[[D:.*]] = fp4.dequantize %[[Q]] : !fp4.qtensor<128x256xf4E2M1FN, nvfp4> -> tensor<128x256xf32>
  %d = fp4.dequantize %q : !fp4.qtensor<128x256xf4E2M1FN, nvfp4> -> tensor<128x256xf32>
  // CHECK: return %[[D]]
  return %d : tensor<128x256xf32>
}

// CHECK-LABEL: func.func @quantize_dynamic(
func.func @quantize_dynamic(%x: tensor<?x64xf16>) -> !fp4.qtensor<?x64xf8E4M3FN, fp8> {
  // CHECK: fp4.quantize %{{.*}} : tensor<?x64xf16> -> !fp4.qtensor<?x64xf8E4M3FN, fp8>
  %q = fp4.quantize %x : tensor<?x64xf16> -> !fp4.qtensor<?x64xf8E4M3FN, fp8>
  return %q : !fp4.qtensor<?x64xf8E4M3FN, fp8>
}

// nn.Linear, W4A4: y[M, N] = x[M, K] * W[N, K]^T.
// CHECK-LABEL: func.func @linear_w4a4(
func.func @linear_w4a4(%x: !fp4.qtensor<16x256xf4E2M1FN, nvfp4>,
                       %w: !fp4.qtensor<512x256xf4E2M1FN, nvfp4>) -> tensor<16x512xbf16> {
  // CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : !fp4.qtensor<16x256xf4E2M1FN, nvfp4>, !fp4.qtensor<512x256xf4E2M1FN, nvfp4> -> tensor<16x512xbf16>
  %y = fp4.scaled_matmul %x, %w : !fp4.qtensor<16x256xf4E2M1FN, nvfp4>, !fp4.qtensor<512x256xf4E2M1FN, nvfp4> -> tensor<16x512xbf16>
  return %y : tensor<16x512xbf16>
}

// W4A16: a bf16 activation against FP4 weights, on a batch of sequences.
// CHECK-LABEL: func.func @linear_w4a16_batched(
func.func @linear_w4a16_batched(%x: tensor<4x16x256xbf16>,
                                %w: !fp4.qtensor<512x256xf4E2M1FN, mxfp4>) -> tensor<4x16x512xf32> {
  // CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : tensor<4x16x256xbf16>, !fp4.qtensor<512x256xf4E2M1FN, mxfp4> -> tensor<4x16x512xf32>
  %y = fp4.scaled_matmul %x, %w : tensor<4x16x256xbf16>, !fp4.qtensor<512x256xf4E2M1FN, mxfp4> -> tensor<4x16x512xf32>
  return %y : tensor<4x16x512xf32>
}

// A bias [N] (nn.Linear's), added before the one rounding.
// CHECK-LABEL: func.func @linear_bias(
func.func @linear_bias(%x: tensor<16x256xbf16>, %w: !fp4.qtensor<512x256xf4E2M1FN, mxfp4>,
                       %b: tensor<512xbf16>) -> tensor<16x512xbf16> {
  // CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<512xbf16>) : tensor<16x256xbf16>, !fp4.qtensor<512x256xf4E2M1FN, mxfp4> -> tensor<16x512xbf16>
  %y = fp4.scaled_matmul %x, %w bias(%b : tensor<512xbf16>) : tensor<16x256xbf16>, !fp4.qtensor<512x256xf4E2M1FN, mxfp4> -> tensor<16x512xbf16>
  return %y : tensor<16x512xbf16>
}

// One bias per expert: [E, N] with weights [E, N, K].
// CHECK-LABEL: func.func @experts_bias(
func.func @experts_bias(%x: tensor<8x32x256xbf16>, %w: !fp4.qtensor<8x512x256xf4E2M1FN, nvfp4>,
                        %b: tensor<8x512xf32>) -> tensor<8x32x512xbf16> {
  // CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<8x512xf32>)
  %y = fp4.scaled_matmul %x, %w bias(%b : tensor<8x512xf32>) : tensor<8x32x256xbf16>, !fp4.qtensor<8x512x256xf4E2M1FN, nvfp4> -> tensor<8x32x512xbf16>
  return %y : tensor<8x32x512xbf16>
}

// Routed experts: row t against expert ids[t] of [E, N, K].
// CHECK-LABEL: func.func @gathered(
func.func @gathered(%x: tensor<5x256xbf16>, %w: !fp4.qtensor<8x512x256xf4E2M1FN, mxfp4>,
                    %ids: tensor<5xi64>, %b: tensor<8x512xf32>) -> (tensor<5x512xbf16>, tensor<5x512xf32>) {
  // CHECK: fp4.gathered_matmul %{{.*}}, %{{.*}}[%{{.*}}] : tensor<5x256xbf16>, !fp4.qtensor<8x512x256xf4E2M1FN, mxfp4>, tensor<5xi64> -> tensor<5x512xbf16>
  %y = fp4.gathered_matmul %x, %w[%ids] : tensor<5x256xbf16>, !fp4.qtensor<8x512x256xf4E2M1FN, mxfp4>, tensor<5xi64> -> tensor<5x512xbf16>
  // CHECK: fp4.gathered_matmul %{{.*}}, %{{.*}}[%{{.*}}] bias(%{{.*}} : tensor<8x512xf32>)
  %z = fp4.gathered_matmul %x, %w[%ids] bias(%b : tensor<8x512xf32>) : tensor<5x256xbf16>, !fp4.qtensor<8x512x256xf4E2M1FN, mxfp4>, tensor<5xi64> -> tensor<5x512xf32>
  return %y, %z : tensor<5x512xbf16>, tensor<5x512xf32>
}

// Mixture of experts: expert-batched weights [E, N, K], FP8 activations.
// CHECK-LABEL: func.func @experts(
func.func @experts(%x: !fp4.qtensor<8x32x256xf8E4M3FN, fp8>,
                   %w: !fp4.qtensor<8x512x256xf4E2M1FN, nvfp4>) -> tensor<8x32x512xbf16> {
  // CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : !fp4.qtensor<8x32x256xf8E4M3FN, fp8>, !fp4.qtensor<8x512x256xf4E2M1FN, nvfp4> -> tensor<8x32x512xbf16>
  %y = fp4.scaled_matmul %x, %w : !fp4.qtensor<8x32x256xf8E4M3FN, fp8>, !fp4.qtensor<8x512x256xf4E2M1FN, nvfp4> -> tensor<8x32x512xbf16>
  return %y : tensor<8x32x512xbf16>
}

// Dynamic token count; per-channel FP8 weights.
// CHECK-LABEL: func.func @dynamic_tokens(
func.func @dynamic_tokens(%x: tensor<?x64xf16>,
                          %w: !fp4.qtensor<32x64xf8E4M3FN, fp8_per_channel>) -> tensor<?x32xf16> {
  // CHECK: fp4.scaled_matmul {{.*}} -> tensor<?x32xf16>
  %y = fp4.scaled_matmul %x, %w : tensor<?x64xf16>, !fp4.qtensor<32x64xf8E4M3FN, fp8_per_channel> -> tensor<?x32xf16>
  return %y : tensor<?x32xf16>
}

// CHECK-LABEL: func.func @constants()
func.func @constants() -> (!fp4.qtensor<2x16xf4E2M1FN, nvfp4>, !fp4.qtensor<2x64xf4E2M1FN, mxfp4>, !fp4.qtensor<4x8xf8E4M3FN, fp8>) {
  // CHECK: fp4.constant data(dense<34> : tensor<2x8xi8>) scales(dense<1.000000e+00> : tensor<2x1xf8E4M3FN>) global_scale(dense<5.000000e-01> : tensor<f32>) : !fp4.qtensor<2x16xf4E2M1FN, nvfp4>
  %a = fp4.constant data(dense<34> : tensor<2x8xi8>) scales(dense<1.0> : tensor<2x1xf8E4M3FN>) global_scale(dense<0.5> : tensor<f32>) : !fp4.qtensor<2x16xf4E2M1FN, nvfp4>
  // CHECK: fp4.constant data(dense_resource<packed> : tensor<2x32xi8>) scales(dense_resource<scales> : tensor<2x2xf8E8M0FNU>) : !fp4.qtensor<2x64xf4E2M1FN, mxfp4>
  %b = fp4.constant data(dense_resource<packed> : tensor<2x32xi8>) scales(dense_resource<scales> : tensor<2x2xf8E8M0FNU>) : !fp4.qtensor<2x64xf4E2M1FN, mxfp4>
  // CHECK: fp4.constant data(dense<{{.*}}> : tensor<4x8xi8>) scales(dense<2.500000e-01> : tensor<f32>) : !fp4.qtensor<4x8xf8E4M3FN, fp8>
  %c = fp4.constant data(dense<[[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15], [16, 17, 18, 19, 20, 21, 22, 23], [24, 25, 26, 27, 28, 29, 30, 31]]> : tensor<4x8xi8>) scales(dense<0.25> : tensor<f32>) : !fp4.qtensor<4x8xf8E4M3FN, fp8>
  return %a, %b, %c : !fp4.qtensor<2x16xf4E2M1FN, nvfp4>, !fp4.qtensor<2x64xf4E2M1FN, mxfp4>, !fp4.qtensor<4x8xf8E4M3FN, fp8>
}

// CHECK-LABEL: func.func @storage(
func.func @storage(%q: !fp4.qtensor<128x256xf4E2M1FN, nvfp4>,
                   %m: !fp4.qtensor<?x64xf4E2M1FN, mxfp4>) -> (!fp4.qtensor<128x256xf4E2M1FN, nvfp4>, !fp4.qtensor<?x64xf4E2M1FN, mxfp4>) {
  // CHECK: %[[D:.*]], %[[S:.*]], %[[G:.*]] = fp4.disassemble %{{.*}} : !fp4.qtensor<128x256xf4E2M1FN, nvfp4> -> tensor<128x128xi8>, tensor<128x16xf8E4M3FN>, tensor<f32>
  %d, %s, %g = fp4.disassemble %q : !fp4.qtensor<128x256xf4E2M1FN, nvfp4> -> tensor<128x128xi8>, tensor<128x16xf8E4M3FN>, tensor<f32>
  // CHECK: fp4.assemble %[[D]], %[[S]], %[[G]] : tensor<128x128xi8>, tensor<128x16xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  %r = fp4.assemble %d, %s, %g : tensor<128x128xi8>, tensor<128x16xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
  // CHECK: fp4.disassemble %{{.*}} : !fp4.qtensor<?x64xf4E2M1FN, mxfp4> -> tensor<?x32xi8>, tensor<?x2xf8E8M0FNU>
  %md, %ms = fp4.disassemble %m : !fp4.qtensor<?x64xf4E2M1FN, mxfp4> -> tensor<?x32xi8>, tensor<?x2xf8E8M0FNU>
  // CHECK: fp4.assemble %{{.*}}, %{{.*}} : tensor<?x32xi8>, tensor<?x2xf8E8M0FNU> -> !fp4.qtensor<?x64xf4E2M1FN, mxfp4>
  %mr = fp4.assemble %md, %ms : tensor<?x32xi8>, tensor<?x2xf8E8M0FNU> -> !fp4.qtensor<?x64xf4E2M1FN, mxfp4>
  return %r, %mr : !fp4.qtensor<128x256xf4E2M1FN, nvfp4>, !fp4.qtensor<?x64xf4E2M1FN, mxfp4>
}

// CHECK-LABEL: func.func @observe
// CHECK: fp4.observe %{{.*}}[3] "mlp.down_proj:input" : tensor<8x128xbf16>
func.func @observe(%x: tensor<8x128xbf16>) {
  fp4.observe %x[3] "mlp.down_proj:input" : tensor<8x128xbf16>
  return
}

{-#
  dialect_resources: {
    builtin: {
      packed: "0x0400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
      scales: "0x040000007F7F7F7F"
    }
  }
#-}
