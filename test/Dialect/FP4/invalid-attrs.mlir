// RUN: fp4-opt %s -split-input-file -verify-diagnostics

// The discardable attributes the fp4 passes read are checked where written.

// expected-error @+1 {{'fp4.kv_cache' on argument #0 expects {format = "...", bytes_per_token_before = N, bytes_per_token_after = N}, got {format = "nvfp4"}}}
func.func @kv_cache_missing_fields(%codes: tensor<1x2x32x8xi8> {fp4.kv_cache = {format = "nvfp4"}}) {
  return
}

// -----

// expected-error @+1 {{'fp4.kv_cache' on argument #1 expects positive byte counts}}
func.func @kv_cache_zero_bytes(%x: tensor<4xf32>, %codes: tensor<1x2x32x8xi8> {fp4.kv_cache = {format = "fp8_per_row", bytes_per_token_before = 0, bytes_per_token_after = 1}}) {
  return
}

// -----

// expected-error @+1 {{'fp4.kv_cache' on an operation names the caches' format: "fp8", "nvfp4" or "keep", got "int4"}}
module attributes {fp4.kv_cache = "int4"} {
}

// -----

// expected-error @+1 {{'fp4.kv_amax' expects a finite, positive f32 amax, got -1.000000e+00 : f32}}
func.func @kv_amax_negative(%cache: tensor<1x2x32x16xf32> {fp4.kv_amax = -1.0 : f32}) {
  return
}

// -----

func.func @act_amax_not_a_float(%x: tensor<4x16xf32>, %w: tensor<16x16xf32>, %z: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{'fp4.act_amax' expects a finite, positive f32 amax, got "big"}}
  %h = linalg.matmul {fp4.act_amax = "big"} ins(%x, %w : tensor<4x16xf32>, tensor<16x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %h : tensor<4x16xf32>
}
