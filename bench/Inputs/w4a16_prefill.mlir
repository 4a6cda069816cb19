// Compute-bound W4A16 shapes for bench/gpu_decode.py (issue #7's list):
// MxKxN 4096x4096x4096 and 8192x8192x8192, NVFP4 and MXFP4 weights, bf16
// activations and results. Compiled by
//   fp4-compile bench/Inputs/w4a16_prefill.mlir --target=sm_90a --emit=cubin
// (not a test input: the float64 reference of these shapes is too slow
// for run_kernels.py).

func.func @nvfp4_2d_4096x4096x4096_bf16_bf16(%x: tensor<4096x4096xbf16>, %wd: tensor<4096x2048xi8>, %ws: tensor<4096x256xf8E4M3FN>, %g: tensor<f32>) -> tensor<4096x4096xbf16> {
  %w = fp4.assemble %wd, %ws, %g : tensor<4096x2048xi8>, tensor<4096x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %w : tensor<4096x4096xbf16>, !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4> -> tensor<4096x4096xbf16>
  return %y : tensor<4096x4096xbf16>
}
func.func @nvfp4_2d_8192x8192x8192_bf16_bf16(%x: tensor<8192x8192xbf16>, %wd: tensor<8192x4096xi8>, %ws: tensor<8192x512xf8E4M3FN>, %g: tensor<f32>) -> tensor<8192x8192xbf16> {
  %w = fp4.assemble %wd, %ws, %g : tensor<8192x4096xi8>, tensor<8192x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %w : tensor<8192x8192xbf16>, !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4> -> tensor<8192x8192xbf16>
  return %y : tensor<8192x8192xbf16>
}
func.func @mxfp4_2d_4096x4096x4096_bf16_bf16(%x: tensor<4096x4096xbf16>, %wd: tensor<4096x2048xi8>, %ws: tensor<4096x128xf8E8M0FNU>) -> tensor<4096x4096xbf16> {
  %w = fp4.assemble %wd, %ws : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %w : tensor<4096x4096xbf16>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<4096x4096xbf16>
  return %y : tensor<4096x4096xbf16>
}
func.func @mxfp4_2d_8192x8192x8192_bf16_bf16(%x: tensor<8192x8192xbf16>, %wd: tensor<8192x4096xi8>, %ws: tensor<8192x256xf8E8M0FNU>) -> tensor<8192x8192xbf16> {
  %w = fp4.assemble %wd, %ws : tensor<8192x4096xi8>, tensor<8192x256xf8E8M0FNU> -> !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %w : tensor<8192x8192xbf16>, !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4> -> tensor<8192x8192xbf16>
  return %y : tensor<8192x8192xbf16>
}
