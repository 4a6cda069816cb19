// W4A4 benchmark shapes (bench/gpu_w4a4.py): MXFP4 x MXFP4 with bf16
// results, on sm_90a's FP8 tensor cores (Fp8WgmmaKernel.cpp), or up to 16
// rows as W4A16 on exact bf16 rows (Bf16RowsKernel.cpp); the decode shapes
// (one row) on the GEMV kernel expanding the activations itself
// (MmaGemvKernel.cpp).

func.func @w4a4_1x4096x4096(%ad: tensor<1x2048xi8>, %as: tensor<1x128xf8E8M0FNU>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x128xf8E8M0FNU>) -> tensor<1x4096xbf16> {
  %a = fp4.assemble %ad, %as : tensor<1x2048xi8>, tensor<1x128xf8E8M0FNU> -> !fp4.qtensor<1x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<1x4096xbf16>
  return %y : tensor<1x4096xbf16>
}

func.func @w4a4_1x4096x14336(%ad: tensor<1x2048xi8>, %as: tensor<1x128xf8E8M0FNU>, %bd: tensor<14336x2048xi8>, %bs: tensor<14336x128xf8E8M0FNU>) -> tensor<1x14336xbf16> {
  %a = fp4.assemble %ad, %as : tensor<1x2048xi8>, tensor<1x128xf8E8M0FNU> -> !fp4.qtensor<1x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<14336x2048xi8>, tensor<14336x128xf8E8M0FNU> -> !fp4.qtensor<14336x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<14336x4096xf4E2M1FN, mxfp4> -> tensor<1x14336xbf16>
  return %y : tensor<1x14336xbf16>
}

func.func @w4a4_1x8192x8192(%ad: tensor<1x4096xi8>, %as: tensor<1x256xf8E8M0FNU>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x256xf8E8M0FNU>) -> tensor<1x8192xbf16> {
  %a = fp4.assemble %ad, %as : tensor<1x4096xi8>, tensor<1x256xf8E8M0FNU> -> !fp4.qtensor<1x8192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<8192x4096xi8>, tensor<8192x256xf8E8M0FNU> -> !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x8192xf4E2M1FN, mxfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4> -> tensor<1x8192xbf16>
  return %y : tensor<1x8192xbf16>
}
func.func @w4a4_16x8192x8192(%ad: tensor<16x4096xi8>, %as: tensor<16x256xf8E8M0FNU>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x256xf8E8M0FNU>) -> tensor<16x8192xbf16> {
  %a = fp4.assemble %ad, %as : tensor<16x4096xi8>, tensor<16x256xf8E8M0FNU> -> !fp4.qtensor<16x8192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<8192x4096xi8>, tensor<8192x256xf8E8M0FNU> -> !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x8192xf4E2M1FN, mxfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4> -> tensor<16x8192xbf16>
  return %y : tensor<16x8192xbf16>
}
func.func @w4a4_128x8192x8192(%ad: tensor<128x4096xi8>, %as: tensor<128x256xf8E8M0FNU>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x256xf8E8M0FNU>) -> tensor<128x8192xbf16> {
  %a = fp4.assemble %ad, %as : tensor<128x4096xi8>, tensor<128x256xf8E8M0FNU> -> !fp4.qtensor<128x8192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<8192x4096xi8>, tensor<8192x256xf8E8M0FNU> -> !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<128x8192xf4E2M1FN, mxfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4> -> tensor<128x8192xbf16>
  return %y : tensor<128x8192xbf16>
}
func.func @w4a4_4096x4096x4096(%ad: tensor<4096x2048xi8>, %as: tensor<4096x128xf8E8M0FNU>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x128xf8E8M0FNU>) -> tensor<4096x4096xbf16> {
  %a = fp4.assemble %ad, %as : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<4096x4096xbf16>
  return %y : tensor<4096x4096xbf16>
}
func.func @w4a4_8192x8192x8192(%ad: tensor<8192x4096xi8>, %as: tensor<8192x256xf8E8M0FNU>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x256xf8E8M0FNU>) -> tensor<8192x8192xbf16> {
  %a = fp4.assemble %ad, %as : tensor<8192x4096xi8>, tensor<8192x256xf8E8M0FNU> -> !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<8192x4096xi8>, tensor<8192x256xf8E8M0FNU> -> !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4> -> tensor<8192x8192xbf16>
  return %y : tensor<8192x8192xbf16>
}
