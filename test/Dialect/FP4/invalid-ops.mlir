// Every verifier constraint of the fp4 ops, violated once.
// RUN: fp4-opt %s -split-input-file -verify-diagnostics

func.func @quantize_shape(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{'fp4.quantize' op expects the input shape 4x64 to match the result's logical shape 4x32}}
  %q = fp4.quantize %x : tensor<4x64xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @quantize_integer_input(%x: tensor<4x32xi32>) {
  // expected-error @+1 {{'fp4.quantize' op operand #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<4x32xi32>'}}
  %q = fp4.quantize %x : tensor<4x32xi32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @quantize_nvfp4_rule_on_mx(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op rule 'modelopt' expects two-level ue4m3 scaling (nvfp4), got #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>}}
  %q = fp4.quantize %x rule<modelopt> : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, mxfp4>
  return
}

// -----

func.func @quantize_mx_rule_on_nvfp4(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op rule 'rceil' expects ue8m0 block scales (mxfp4, mxfp8), got #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32>}}
  %q = fp4.quantize %x rule<rceil> : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @quantize_amax_on_block_scales(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op amax sets a per-tensor scale: it applies to per-tensor or two-level scaling, got #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>}}
  %q = fp4.quantize %x amax(4.0) : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, mxfp4>
  return
}

// -----

func.func @quantize_amax_per_channel(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op amax sets a per-tensor scale}}
  %q = fp4.quantize %x amax(4.0) : tensor<4x32xf32> -> !fp4.qtensor<4x32xf8E4M3FN, fp8_per_channel>
  return
}

// -----

func.func @quantize_amax_zero(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op expects a finite, positive amax}}
  %q = fp4.quantize %x amax(0.0) : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @quantize_amax_inf(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op expects a finite, positive amax}}
  %q = fp4.quantize %x amax(0x7F800000) : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @quantize_search_on_mx(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op search<mse> chooses NVFP4 block scales (two-level ue4m3 scaling, modelopt rule) or FP8 tensor or channel scales (f32), got #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0> on 'f4E2M1FN'}}
  %q = fp4.quantize %x search<mse> : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, mxfp4>
  return
}

// -----

func.func @quantize_four_over_six_on_fp8(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op search<four_over_six> chooses NVFP4 block scales: it needs two-level ue4m3 scaling and the modelopt rule}}
  %q = fp4.quantize %x search<four_over_six> : tensor<4x32xf32> -> !fp4.qtensor<4x32xf8E4M3FN, fp8_per_channel>
  return
}

// -----

func.func @quantize_search_and_amax_on_fp8(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op search<mse> and amax both set the FP8 scale: use one}}
  %q = fp4.quantize %x search<mse> amax(2.0) : tensor<4x32xf32> -> !fp4.qtensor<4x32xf8E4M3FN, fp8>
  return
}

// -----

func.func @quantize_search_with_torchao(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.quantize' op search<four_over_six> chooses NVFP4 block scales}}
  %q = fp4.quantize %x rule<torchao> search<four_over_six> : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @observe_negative_id(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.observe' op expects a non-negative observer id, got -1}}
  fp4.observe %x[-1] "a:input" : tensor<4x32xf32>
  return
}

// -----

func.func @observe_no_name(%x: tensor<4x32xf32>) {
  // expected-error @+1 {{'fp4.observe' op expects a non-empty observer name}}
  fp4.observe %x[0] "" : tensor<4x32xf32>
  return
}

// -----

func.func @quantize_unknown_rule(%x: tensor<4x32xf32>) {
  // expected-error @+2 {{expected ::mlir::fp4::ScaleRule to be one of: modelopt, torchao, compressed_tensors, floor, rceil}}
  // expected-error @+1 {{failed to parse FP4_ScaleRuleAttr parameter 'value'}}
  %q = fp4.quantize %x rule<nearest> : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @dequantize_shape(%q: !fp4.qtensor<4x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.dequantize' op expects the result shape 32x4 to match the input's logical shape 4x32}}
  %x = fp4.dequantize %q : !fp4.qtensor<4x32xf4E2M1FN, nvfp4> -> tensor<32x4xf32>
  return
}

// -----

func.func @matmul_float_operands(%x: tensor<4x32xbf16>, %w: tensor<8x32xbf16>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects at least one quantized operand (use linalg.matmul for float operands)}}
  %y = fp4.scaled_matmul %x, %w : tensor<4x32xbf16>, tensor<8x32xbf16> -> tensor<4x8xbf16>
  return
}

// -----

func.func @matmul_bias_shape(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<8x32xf4E2M1FN, nvfp4>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects a bias [N] of shape 8, got 4}}
  %y = fp4.scaled_matmul %x, %w bias(%b : tensor<4xf32>) : tensor<4x32xbf16>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<4x8xbf16>
  return
}

// -----

func.func @matmul_expert_bias_shape(%x: tensor<2x4x32xbf16>, %w: !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects a bias [B, N] of shape 2x8, got 8}}
  %y = fp4.scaled_matmul %x, %w bias(%b : tensor<8xf32>) : tensor<2x4x32xbf16>, !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4> -> tensor<2x4x8xbf16>
  return
}

// -----

func.func @matmul_lhs_rank(%x: tensor<32xbf16>, %w: !fp4.qtensor<8x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects lhs of rank 2 or 3, got rank 1}}
  %y = fp4.scaled_matmul %x, %w : tensor<32xbf16>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<8xbf16>
  return
}

// -----

func.func @matmul_rhs_rank(%x: tensor<2x2x4x32xbf16>, %w: !fp4.qtensor<2x2x8x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects lhs of rank 2 or 3, got rank 4}}
  %y = fp4.scaled_matmul %x, %w : tensor<2x2x4x32xbf16>, !fp4.qtensor<2x2x8x32xf4E2M1FN, nvfp4> -> tensor<2x2x4x8xbf16>
  return
}

// -----

func.func @matmul_rhs_rank4(%x: tensor<4x4x32xbf16>, %w: !fp4.qtensor<2x4x8x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects rhs of rank 2 or 3, got rank 4}}
  %y = fp4.scaled_matmul %x, %w : tensor<4x4x32xbf16>, !fp4.qtensor<2x4x8x32xf4E2M1FN, nvfp4> -> tensor<4x4x8xbf16>
  return
}

// -----

func.func @matmul_batched_rhs_needs_batched_lhs(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects a rank-3 lhs with a rank-3 (batched) rhs, got lhs rank 2}}
  %y = fp4.scaled_matmul %x, %w : tensor<4x32xbf16>, !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4> -> tensor<2x4x8xbf16>
  return
}

// -----

func.func @matmul_reduction(%x: tensor<4x64xbf16>, %w: !fp4.qtensor<8x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects the reduction dimensions of lhs and rhs to match, got 64 and 32}}
  %y = fp4.scaled_matmul %x, %w : tensor<4x64xbf16>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<4x8xbf16>
  return
}

// -----

func.func @matmul_batch(%x: tensor<3x4x32xbf16>, %w: !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects the batch dimensions of lhs and rhs to match, got 3 and 2}}
  %y = fp4.scaled_matmul %x, %w : tensor<3x4x32xbf16>, !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4> -> tensor<3x4x8xbf16>
  return
}

// -----

func.func @matmul_result(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<8x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects result shape 4x8, got 8x4}}
  %y = fp4.scaled_matmul %x, %w : tensor<4x32xbf16>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<8x4xbf16>
  return
}

// -----

func.func @matmul_integer_result(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<8x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op result #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<4x8xi32>'}}
  %y = fp4.scaled_matmul %x, %w : tensor<4x32xbf16>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<4x8xi32>
  return
}

// -----

func.func @matmul_blocked_off_reduction(%x: !fp4.qtensor<32x32xf4E2M1FN, #fp4.scaling<block, axis = 0, size = 16, scale = ue4m3, global = f32>>,
                                        %w: tensor<8x32xbf16>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects lhs to be blocked along its reduction axis 1, got axis 0}}
  %y = fp4.scaled_matmul %x, %w : !fp4.qtensor<32x32xf4E2M1FN, #fp4.scaling<block, axis = 0, size = 16, scale = ue4m3, global = f32>>, tensor<8x32xbf16> -> tensor<32x8xbf16>
  return
}

// -----

func.func @matmul_channel_on_reduction(%x: tensor<4x32xbf16>,
                                       %w: !fp4.qtensor<8x32xf8E4M3FN, #fp4.scaling<channel, axis = 1, scale = f32>>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects rhs per-channel scales along a non-reduction axis (a scale along the reduction axis 1 cannot be factored out of the sum)}}
  %y = fp4.scaled_matmul %x, %w : tensor<4x32xbf16>, !fp4.qtensor<8x32xf8E4M3FN, #fp4.scaling<channel, axis = 1, scale = f32>> -> tensor<4x8xbf16>
  return
}

// -----

func.func @matmul_block_sizes(%x: !fp4.qtensor<4x64xf4E2M1FN, nvfp4>, %w: !fp4.qtensor<8x64xf4E2M1FN, mxfp4>) {
  // expected-error @+1 {{'fp4.scaled_matmul' op expects equal block sizes along the reduction axis, got 16 (lhs) and 32 (rhs)}}
  %y = fp4.scaled_matmul %x, %w : !fp4.qtensor<4x64xf4E2M1FN, nvfp4>, !fp4.qtensor<8x64xf4E2M1FN, mxfp4> -> tensor<4x8xbf16>
  return
}

// -----

func.func @constant_dynamic() {
  // expected-error @+1 {{'fp4.constant' op expects a static shape, got '!fp4.qtensor<?x32xf8E4M3FN, fp8>'}}
  %c = fp4.constant data(dense<0> : tensor<1x32xi8>) scales(dense<1.0> : tensor<f32>) : !fp4.qtensor<?x32xf8E4M3FN, fp8>
  return
}

// -----

func.func @constant_data_unpacked() {
  // expected-error @+1 {{'fp4.constant' op expects data attribute of type 'tensor<2x8xi8>', got 'tensor<2x16xi8>'}}
  %c = fp4.constant data(dense<0> : tensor<2x16xi8>) scales(dense<1.0> : tensor<2x1xf8E4M3FN>) global_scale(dense<1.0> : tensor<f32>) : !fp4.qtensor<2x16xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @constant_scales() {
  // expected-error @+1 {{'fp4.constant' op expects scales attribute of type 'tensor<2x1xf8E4M3FN>', got 'tensor<2x1xf32>'}}
  %c = fp4.constant data(dense<0> : tensor<2x8xi8>) scales(dense<1.0> : tensor<2x1xf32>) global_scale(dense<1.0> : tensor<f32>) : !fp4.qtensor<2x16xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @constant_global_type() {
  // expected-error @+1 {{'fp4.constant' op expects global scale attribute of type 'tensor<f32>', got 'tensor<1xf32>'}}
  %c = fp4.constant data(dense<0> : tensor<2x8xi8>) scales(dense<1.0> : tensor<2x1xf8E4M3FN>) global_scale(dense<1.0> : tensor<1xf32>) : !fp4.qtensor<2x16xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @constant_missing_global() {
  // expected-error @+1 {{'fp4.constant' op expects a global scale attribute for two-level scaling}}
  %c = fp4.constant data(dense<0> : tensor<2x8xi8>) scales(dense<1.0> : tensor<2x1xf8E4M3FN>) : !fp4.qtensor<2x16xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @constant_extra_global() {
  // expected-error @+1 {{'fp4.constant' op expects no global scale attribute: the scaling of '!fp4.qtensor<2x32xf4E2M1FN, mxfp4>' is not two-level}}
  %c = fp4.constant data(dense<0> : tensor<2x16xi8>) scales(dense<1.0> : tensor<2x1xf8E8M0FNU>) global_scale(dense<1.0> : tensor<f32>) : !fp4.qtensor<2x32xf4E2M1FN, mxfp4>
  return
}

// -----

func.func @assemble_data(%d: tensor<4x32xi8>, %s: tensor<4x2xf8E4M3FN>, %g: tensor<f32>) {
  // expected-error @+1 {{'fp4.assemble' op expects data operand of type 'tensor<4x16xi8>', got 'tensor<4x32xi8>'}}
  %q = fp4.assemble %d, %s, %g : tensor<4x32xi8>, tensor<4x2xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @assemble_scales_dynamic(%d: tensor<?x16xi8>, %s: tensor<4x1xf8E8M0FNU>) {
  // expected-error @+1 {{'fp4.assemble' op expects scales operand of type 'tensor<?x1xf8E8M0FNU>', got 'tensor<4x1xf8E8M0FNU>'}}
  %q = fp4.assemble %d, %s : tensor<?x16xi8>, tensor<4x1xf8E8M0FNU> -> !fp4.qtensor<?x32xf4E2M1FN, mxfp4>
  return
}

// -----

func.func @assemble_missing_global(%d: tensor<4x16xi8>, %s: tensor<4x2xf8E4M3FN>) {
  // expected-error @+1 {{'fp4.assemble' op expects a global scale operand for two-level scaling}}
  %q = fp4.assemble %d, %s : tensor<4x16xi8>, tensor<4x2xf8E4M3FN> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}

// -----

func.func @assemble_extra_global(%d: tensor<4x32xi8>, %s: tensor<f32>, %g: tensor<f32>) {
  // expected-error @+1 {{'fp4.assemble' op expects no global scale operand: the scaling of '!fp4.qtensor<4x32xf8E4M3FN, fp8>' is not two-level}}
  %q = fp4.assemble %d, %s, %g : tensor<4x32xi8>, tensor<f32>, tensor<f32> -> !fp4.qtensor<4x32xf8E4M3FN, fp8>
  return
}

// -----

func.func @disassemble_scales(%q: !fp4.qtensor<4x32xf8E4M3FN, fp8_per_channel>) {
  // expected-error @+1 {{'fp4.disassemble' op expects scales result of type 'tensor<4xf32>', got 'tensor<f32>'}}
  %d, %s = fp4.disassemble %q : !fp4.qtensor<4x32xf8E4M3FN, fp8_per_channel> -> tensor<4x32xi8>, tensor<f32>
  return
}

// -----

func.func @disassemble_missing_global(%q: !fp4.qtensor<4x32xf4E2M1FN, nvfp4>) {
  // expected-error @+1 {{'fp4.disassemble' op expects a global scale result for two-level scaling}}
  %d, %s = fp4.disassemble %q : !fp4.qtensor<4x32xf4E2M1FN, nvfp4> -> tensor<4x16xi8>, tensor<4x2xf8E4M3FN>
  return
}

// -----

func.func @constant_resource_size() {
  // expected-error @+1 {{'fp4.constant' op expects data resource 'short' to hold 64 bytes for 'tensor<2x32xi8>', got 4}}
  %c = fp4.constant data(dense_resource<short> : tensor<2x32xi8>) scales(dense<1.0> : tensor<2x2xf8E8M0FNU>) : !fp4.qtensor<2x64xf4E2M1FN, mxfp4>
  return
}

{-#
  dialect_resources: {
    builtin: {
      short: "0x0400000001020304"
    }
  }
#-}

// -----

func.func @gathered_2d_weights(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<8x32xf4E2M1FN, nvfp4>, %ids: tensor<4xi32>) {
  // expected-error @+1 {{'fp4.gathered_matmul' op expects stacked expert weights rhs [E, N, K], got rank 2}}
  %y = "fp4.gathered_matmul"(%x, %w, %ids) : (tensor<4x32xbf16>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4>, tensor<4xi32>) -> tensor<4x8xbf16>
  return
}

// -----

func.func @gathered_indices(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, %ids: tensor<3xi32>) {
  // expected-error @+1 {{'fp4.gathered_matmul' op expects indices [T] with T = 4 (the rows of lhs), got 3}}
  %y = fp4.gathered_matmul %x, %w[%ids] : tensor<4x32xbf16>, !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, tensor<3xi32> -> tensor<4x8xbf16>
  return
}

// -----

func.func @gathered_result(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, %ids: tensor<4xi32>) {
  // expected-error @+1 {{'fp4.gathered_matmul' op expects result shape 4x8, got 2x4x8}}
  %y = fp4.gathered_matmul %x, %w[%ids] : tensor<4x32xbf16>, !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, tensor<4xi32> -> tensor<2x4x8xbf16>
  return
}

// -----

func.func @gathered_bias(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, %ids: tensor<4xi32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'fp4.gathered_matmul' op expects a bias [E, N] of shape 2x8, got 8}}
  %y = fp4.gathered_matmul %x, %w[%ids] bias(%b : tensor<8xf32>) : tensor<4x32xbf16>, !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, tensor<4xi32> -> tensor<4x8xbf16>
  return
}

// -----

func.func @gathered_index_type(%x: tensor<4x32xbf16>, %w: !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, %ids: tensor<4xf32>) {
  // expected-error @+1 {{'fp4.gathered_matmul' op operand #2 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %y = fp4.gathered_matmul %x, %w[%ids] : tensor<4x32xbf16>, !fp4.qtensor<2x8x32xf4E2M1FN, nvfp4>, tensor<4xf32> -> tensor<4x8xbf16>
  return
}
