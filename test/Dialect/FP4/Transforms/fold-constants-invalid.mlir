// RUN: fp4-opt %s -split-input-file -fp4-fold-constants -verify-diagnostics

func.func @nan_weight() -> !fp4.qtensor<1x16xf4E2M1FN, nvfp4> {
  %w = arith.constant dense<[[1.0, 0x7FC00000, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<1x16xf32>
  // expected-error @+1 {{cannot quantize the constant weight: input holds a non-finite value (nan) at row 0, column 1; NaN/Inf weights cannot be quantized (fix or mask them first)}}
  %q = fp4.quantize %w : tensor<1x16xf32> -> !fp4.qtensor<1x16xf4E2M1FN, nvfp4>
  return %q : !fp4.qtensor<1x16xf4E2M1FN, nvfp4>
}

// -----

func.func @inf_weight() -> !fp4.qtensor<2x32xf8E4M3FN, fp8_per_channel> {
  %w = arith.constant dense<0x7F800000> : tensor<2x32xf32>
  // expected-error @+1 {{cannot quantize the constant weight: input holds a non-finite value (inf) at row 0, column 0}}
  %q = fp4.quantize %w : tensor<2x32xf32> -> !fp4.qtensor<2x32xf8E4M3FN, fp8_per_channel>
  return %q : !fp4.qtensor<2x32xf8E4M3FN, fp8_per_channel>
}
