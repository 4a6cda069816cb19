// MoE decode for bench/gpu_ab.py: 8 rows (tokens x top-k), each against
// the expert its index names among 8 experts of 14336 x 4096 (a Mixtral
// w1/w3 shape), NVFP4 and MXFP4 weights, bf16 activations and results
// (fp4.gathered_matmul; the decode kernel, DecodeKernel.cpp). Compiled by
//   fp4-compile bench/Inputs/w4a16_gathered.mlir --target=sm_90a --emit=cubin

func.func @nvfp4_gathered(%x: tensor<8x4096xbf16>, %wd: tensor<8x14336x2048xi8>, %ws: tensor<8x14336x256xf8E4M3FN>, %g: tensor<f32>, %ids: tensor<8xi64>) -> tensor<8x14336xbf16> {
  %w = fp4.assemble %wd, %ws, %g : tensor<8x14336x2048xi8>, tensor<8x14336x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<8x14336x4096xf4E2M1FN, nvfp4>
  %y = fp4.gathered_matmul %x, %w[%ids] : tensor<8x4096xbf16>, !fp4.qtensor<8x14336x4096xf4E2M1FN, nvfp4>, tensor<8xi64> -> tensor<8x14336xbf16>
  return %y : tensor<8x14336xbf16>
}
func.func @mxfp4_gathered(%x: tensor<8x4096xbf16>, %wd: tensor<8x14336x2048xi8>, %ws: tensor<8x14336x128xf8E8M0FNU>, %ids: tensor<8xi64>) -> tensor<8x14336xbf16> {
  %w = fp4.assemble %wd, %ws : tensor<8x14336x2048xi8>, tensor<8x14336x128xf8E8M0FNU> -> !fp4.qtensor<8x14336x4096xf4E2M1FN, mxfp4>
  %y = fp4.gathered_matmul %x, %w[%ids] : tensor<8x4096xbf16>, !fp4.qtensor<8x14336x4096xf4E2M1FN, mxfp4>, tensor<8xi64> -> tensor<8x14336xbf16>
  return %y : tensor<8x14336xbf16>
}
