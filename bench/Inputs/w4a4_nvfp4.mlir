// W4A4 benchmark shapes in NVFP4 (bench/gpu_w4a4.py): NVFP4 x NVFP4 with
// bf16 results; on sm_90a as W4A16 on exact bf16 rows (Bf16RowsKernel.cpp),
// the decode shapes (one row) on the GEMV kernel expanding the activations
// itself (MmaGemvKernel.cpp).

func.func @w4a4_1x4096x4096(%ad: tensor<1x2048xi8>, %as: tensor<1x256xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x256xf8E4M3FN>, %bg: tensor<f32>) -> tensor<1x4096xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<1x2048xi8>, tensor<1x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<1x4096xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<4096x2048xi8>, tensor<4096x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x4096xf4E2M1FN, nvfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4> -> tensor<1x4096xbf16>
  return %y : tensor<1x4096xbf16>
}

func.func @w4a4_1x4096x14336(%ad: tensor<1x2048xi8>, %as: tensor<1x256xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<14336x2048xi8>, %bs: tensor<14336x256xf8E4M3FN>, %bg: tensor<f32>) -> tensor<1x14336xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<1x2048xi8>, tensor<1x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<1x4096xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<14336x2048xi8>, tensor<14336x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<14336x4096xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x4096xf4E2M1FN, nvfp4>, !fp4.qtensor<14336x4096xf4E2M1FN, nvfp4> -> tensor<1x14336xbf16>
  return %y : tensor<1x14336xbf16>
}

func.func @w4a4_1x8192x8192(%ad: tensor<1x4096xi8>, %as: tensor<1x512xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x512xf8E4M3FN>, %bg: tensor<f32>) -> tensor<1x8192xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<1x4096xi8>, tensor<1x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<1x8192xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<8192x4096xi8>, tensor<8192x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x8192xf4E2M1FN, nvfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4> -> tensor<1x8192xbf16>
  return %y : tensor<1x8192xbf16>
}
func.func @w4a4_16x8192x8192(%ad: tensor<16x4096xi8>, %as: tensor<16x512xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x512xf8E4M3FN>, %bg: tensor<f32>) -> tensor<16x8192xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<16x4096xi8>, tensor<16x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<16x8192xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<8192x4096xi8>, tensor<8192x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x8192xf4E2M1FN, nvfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4> -> tensor<16x8192xbf16>
  return %y : tensor<16x8192xbf16>
}
func.func @w4a4_128x8192x8192(%ad: tensor<128x4096xi8>, %as: tensor<128x512xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x512xf8E4M3FN>, %bg: tensor<f32>) -> tensor<128x8192xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<128x4096xi8>, tensor<128x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<128x8192xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<8192x4096xi8>, tensor<8192x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<128x8192xf4E2M1FN, nvfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4> -> tensor<128x8192xbf16>
  return %y : tensor<128x8192xbf16>
}
func.func @w4a4_4096x4096x4096(%ad: tensor<4096x2048xi8>, %as: tensor<4096x256xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x256xf8E4M3FN>, %bg: tensor<f32>) -> tensor<4096x4096xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<4096x2048xi8>, tensor<4096x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<4096x2048xi8>, tensor<4096x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4> -> tensor<4096x4096xbf16>
  return %y : tensor<4096x4096xbf16>
}
func.func @w4a4_8192x8192x8192(%ad: tensor<8192x4096xi8>, %as: tensor<8192x512xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x512xf8E4M3FN>, %bg: tensor<f32>) -> tensor<8192x8192xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<8192x4096xi8>, tensor<8192x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<8192x4096xi8>, tensor<8192x512xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, nvfp4> -> tensor<8192x8192xbf16>
  return %y : tensor<8192x8192xbf16>
}
