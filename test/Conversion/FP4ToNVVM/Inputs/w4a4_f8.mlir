// MXFP4 x MXFP4 (W4A4) on sm_90a's FP8 tensor cores (Fp8WgmmaKernel.cpp):
// every tile size (64, 128 and 256 activation rows), one K step, odd and
// even step counts, ragged M and N, stacked operands, a bias, bf16 results;
// split-K in 2, 4 and 8 parts (clusters) for every tile size, stacked too
// (17x4096x4096 in four, 100x300x2048, 300x256x2048 and E2x33x256x4096 in
// two, two, four, 20x136x16384 in eight); from 1024 rows both operands'
// E5M2 rows copied to shared memory (2048x1024x1024, 1100x260x512 and
// E2x1024x136x256). (Up to 16 rows, W4A4 runs as W4A16 instead:
// w4a4_x16.mlir.)
// test/GPU/sm90a-kernels.test runs them on the H100 against float64.

func.func @f8_64x128x128(%ad: tensor<64x64xi8>, %as: tensor<64x4xf8E8M0FNU>, %bd: tensor<128x64xi8>, %bs: tensor<128x4xf8E8M0FNU>) -> tensor<64x128xf32> {
  %a = fp4.assemble %ad, %as : tensor<64x64xi8>, tensor<64x4xf8E8M0FNU> -> !fp4.qtensor<64x128xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<128x64xi8>, tensor<128x4xf8E8M0FNU> -> !fp4.qtensor<128x128xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<64x128xf4E2M1FN, mxfp4>, !fp4.qtensor<128x128xf4E2M1FN, mxfp4> -> tensor<64x128xf32>
  return %y : tensor<64x128xf32>
}
func.func @f8_17x4096x4096(%ad: tensor<17x2048xi8>, %as: tensor<17x128xf8E8M0FNU>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x128xf8E8M0FNU>) -> tensor<17x4096xf32> {
  %a = fp4.assemble %ad, %as : tensor<17x2048xi8>, tensor<17x128xf8E8M0FNU> -> !fp4.qtensor<17x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<17x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<17x4096xf32>
  return %y : tensor<17x4096xf32>
}
func.func @f8_300x200x384(%ad: tensor<300x192xi8>, %as: tensor<300x12xf8E8M0FNU>, %bd: tensor<200x192xi8>, %bs: tensor<200x12xf8E8M0FNU>) -> tensor<300x200xf32> {
  %a = fp4.assemble %ad, %as : tensor<300x192xi8>, tensor<300x12xf8E8M0FNU> -> !fp4.qtensor<300x384xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<200x192xi8>, tensor<200x12xf8E8M0FNU> -> !fp4.qtensor<200x384xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<300x384xf4E2M1FN, mxfp4>, !fp4.qtensor<200x384xf4E2M1FN, mxfp4> -> tensor<300x200xf32>
  return %y : tensor<300x200xf32>
}
func.func @f8_experts(%ad: tensor<2x70x128xi8>, %as: tensor<2x70x8xf8E8M0FNU>, %bd: tensor<2x130x128xi8>, %bs: tensor<2x130x8xf8E8M0FNU>, %bias: tensor<2x130xf32>) -> tensor<2x70x130xf32> {
  %a = fp4.assemble %ad, %as : tensor<2x70x128xi8>, tensor<2x70x8xf8E8M0FNU> -> !fp4.qtensor<2x70x256xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<2x130x128xi8>, tensor<2x130x8xf8E8M0FNU> -> !fp4.qtensor<2x130x256xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<2x130xf32>) : !fp4.qtensor<2x70x256xf4E2M1FN, mxfp4>, !fp4.qtensor<2x130x256xf4E2M1FN, mxfp4> -> tensor<2x70x130xf32>
  return %y : tensor<2x70x130xf32>
}
func.func @f8_513x260x512_bf16(%ad: tensor<513x256xi8>, %as: tensor<513x16xf8E8M0FNU>, %bd: tensor<260x256xi8>, %bs: tensor<260x16xf8E8M0FNU>, %bias: tensor<260xf32>) -> tensor<513x260xbf16> {
  %a = fp4.assemble %ad, %as : tensor<513x256xi8>, tensor<513x16xf8E8M0FNU> -> !fp4.qtensor<513x512xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<260x256xi8>, tensor<260x16xf8E8M0FNU> -> !fp4.qtensor<260x512xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<260xf32>) : !fp4.qtensor<513x512xf4E2M1FN, mxfp4>, !fp4.qtensor<260x512xf4E2M1FN, mxfp4> -> tensor<513x260xbf16>
  return %y : tensor<513x260xbf16>
}
func.func @f8_2048x1024x1024_bf16(%ad: tensor<2048x512xi8>, %as: tensor<2048x32xf8E8M0FNU>, %bd: tensor<1024x512xi8>, %bs: tensor<1024x32xf8E8M0FNU>) -> tensor<2048x1024xbf16> {
  %a = fp4.assemble %ad, %as : tensor<2048x512xi8>, tensor<2048x32xf8E8M0FNU> -> !fp4.qtensor<2048x1024xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<1024x512xi8>, tensor<1024x32xf8E8M0FNU> -> !fp4.qtensor<1024x1024xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<2048x1024xf4E2M1FN, mxfp4>, !fp4.qtensor<1024x1024xf4E2M1FN, mxfp4> -> tensor<2048x1024xbf16>
  return %y : tensor<2048x1024xbf16>
}
func.func @f8_100x300x2048(%ad: tensor<100x1024xi8>, %as: tensor<100x64xf8E8M0FNU>, %bd: tensor<300x1024xi8>, %bs: tensor<300x64xf8E8M0FNU>) -> tensor<100x300xf32> {
  %a = fp4.assemble %ad, %as : tensor<100x1024xi8>, tensor<100x64xf8E8M0FNU> -> !fp4.qtensor<100x2048xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<300x1024xi8>, tensor<300x64xf8E8M0FNU> -> !fp4.qtensor<300x2048xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<100x2048xf4E2M1FN, mxfp4>, !fp4.qtensor<300x2048xf4E2M1FN, mxfp4> -> tensor<100x300xf32>
  return %y : tensor<100x300xf32>
}
func.func @f8_300x256x2048_bf16(%ad: tensor<300x1024xi8>, %as: tensor<300x64xf8E8M0FNU>, %bd: tensor<256x1024xi8>, %bs: tensor<256x64xf8E8M0FNU>, %bias: tensor<256xf32>) -> tensor<300x256xbf16> {
  %a = fp4.assemble %ad, %as : tensor<300x1024xi8>, tensor<300x64xf8E8M0FNU> -> !fp4.qtensor<300x2048xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<256x1024xi8>, tensor<256x64xf8E8M0FNU> -> !fp4.qtensor<256x2048xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<256xf32>) : !fp4.qtensor<300x2048xf4E2M1FN, mxfp4>, !fp4.qtensor<256x2048xf4E2M1FN, mxfp4> -> tensor<300x256xbf16>
  return %y : tensor<300x256xbf16>
}
func.func @f8_experts_split(%ad: tensor<2x33x2048xi8>, %as: tensor<2x33x128xf8E8M0FNU>, %bd: tensor<2x256x2048xi8>, %bs: tensor<2x256x128xf8E8M0FNU>, %bias: tensor<2x256xf32>) -> tensor<2x33x256xf32> {
  %a = fp4.assemble %ad, %as : tensor<2x33x2048xi8>, tensor<2x33x128xf8E8M0FNU> -> !fp4.qtensor<2x33x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<2x256x2048xi8>, tensor<2x256x128xf8E8M0FNU> -> !fp4.qtensor<2x256x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<2x256xf32>) : !fp4.qtensor<2x33x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<2x256x4096xf4E2M1FN, mxfp4> -> tensor<2x33x256xf32>
  return %y : tensor<2x33x256xf32>
}
func.func @f8_20x136x16384(%ad: tensor<20x8192xi8>, %as: tensor<20x512xf8E8M0FNU>, %bd: tensor<136x8192xi8>, %bs: tensor<136x512xf8E8M0FNU>) -> tensor<20x136xf32> {
  %a = fp4.assemble %ad, %as : tensor<20x8192xi8>, tensor<20x512xf8E8M0FNU> -> !fp4.qtensor<20x16384xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<136x8192xi8>, tensor<136x512xf8E8M0FNU> -> !fp4.qtensor<136x16384xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<20x16384xf4E2M1FN, mxfp4>, !fp4.qtensor<136x16384xf4E2M1FN, mxfp4> -> tensor<20x136xf32>
  return %y : tensor<20x136xf32>
}
// From 1024 activation rows on, the weights go through the rows kernel too
// (f8ws): ragged rows and columns with a bias, and stacked operands.
func.func @f8_staged_1100x260x512_bias(%ad: tensor<1100x256xi8>, %as: tensor<1100x16xf8E8M0FNU>, %bd: tensor<260x256xi8>, %bs: tensor<260x16xf8E8M0FNU>, %bias: tensor<260xf32>) -> tensor<1100x260xf32> {
  %a = fp4.assemble %ad, %as : tensor<1100x256xi8>, tensor<1100x16xf8E8M0FNU> -> !fp4.qtensor<1100x512xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<260x256xi8>, tensor<260x16xf8E8M0FNU> -> !fp4.qtensor<260x512xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<260xf32>) : !fp4.qtensor<1100x512xf4E2M1FN, mxfp4>, !fp4.qtensor<260x512xf4E2M1FN, mxfp4> -> tensor<1100x260xf32>
  return %y : tensor<1100x260xf32>
}
func.func @f8_staged_experts(%ad: tensor<2x1024x128xi8>, %as: tensor<2x1024x8xf8E8M0FNU>, %bd: tensor<2x136x128xi8>, %bs: tensor<2x136x8xf8E8M0FNU>) -> tensor<2x1024x136xbf16> {
  %a = fp4.assemble %ad, %as : tensor<2x1024x128xi8>, tensor<2x1024x8xf8E8M0FNU> -> !fp4.qtensor<2x1024x256xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<2x136x128xi8>, tensor<2x136x8xf8E8M0FNU> -> !fp4.qtensor<2x136x256xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<2x1024x256xf4E2M1FN, mxfp4>, !fp4.qtensor<2x136x256xf4E2M1FN, mxfp4> -> tensor<2x1024x136xbf16>
  return %y : tensor<2x1024x136xbf16>
}
