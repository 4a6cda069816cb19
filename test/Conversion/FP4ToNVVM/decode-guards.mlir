// RUN: fp4-opt %s -convert-fp4-to-nvvm -canonicalize | FileCheck %s

// The decode kernels guard their loads (weight rows past N, pieces past
// the end of a K part, activation rows past M) only where the shape needs
// it. The CUDA-core kernel (f16 activations): N = 16 fills every CTA's 8
// rows and K = 4096 every step, so no load is guarded (the selects left
// decode UE8M0 byte 0); N = 13 leaves a ragged CTA, whose weight loads
// select a safe index and zeros. The same for the tensor-core GEMV (bf16
// activations; one group of 16 weight rows, K split over 16 warps of two
// chunks each).

// CHECK-LABEL: gpu.func @fp4_mxfp4_w4a16_1x16x4096_f16_bf16(
// CHECK-NOT: arith.select {{.*}} : index
// CHECK-NOT: arith.select {{.*}} : vector<16xi8>
// CHECK: gpu.return

// CHECK-LABEL: gpu.func @fp4_mxfp4_w4a16_1x13x4096_f16_bf16(
// CHECK: arith.cmpi ult, %{{.*}}, %c13 : index
// CHECK: arith.select %{{.*}}, %{{.*}}, %c0 : index
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : vector<16xi8>

// CHECK-LABEL: gpu.func @fp4_mxfp4_w4a16mvs16_1x16x4096_bf16_bf16(
// CHECK-NOT: arith.select {{.*}} : index
// CHECK-NOT: arith.select {{.*}} : vector<16xi8>
// CHECK-NOT: arith.select {{.*}} : vector<8xbf16>
// CHECK: gpu.return

// CHECK-LABEL: gpu.func @fp4_mxfp4_w4a16mvs16_1x13x4096_bf16_bf16(
// CHECK: arith.cmpi ult, %{{.*}}, %c13 : index
// CHECK: arith.select %{{.*}}, %{{.*}}, %c0 : index
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : vector<16xi8>
func.func @exact_f16(%x: tensor<1x4096xf16>, %bd: tensor<16x2048xi8>, %bs: tensor<16x128xf8E8M0FNU>) -> tensor<1x16xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<16x2048xi8>, tensor<16x128xf8E8M0FNU> -> !fp4.qtensor<16x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<1x4096xf16>, !fp4.qtensor<16x4096xf4E2M1FN, mxfp4> -> tensor<1x16xbf16>
  return %y : tensor<1x16xbf16>
}
func.func @ragged_f16(%x: tensor<1x4096xf16>, %bd: tensor<13x2048xi8>, %bs: tensor<13x128xf8E8M0FNU>) -> tensor<1x13xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<13x2048xi8>, tensor<13x128xf8E8M0FNU> -> !fp4.qtensor<13x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<1x4096xf16>, !fp4.qtensor<13x4096xf4E2M1FN, mxfp4> -> tensor<1x13xbf16>
  return %y : tensor<1x13xbf16>
}
func.func @exact(%x: tensor<1x4096xbf16>, %bd: tensor<16x2048xi8>, %bs: tensor<16x128xf8E8M0FNU>) -> tensor<1x16xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<16x2048xi8>, tensor<16x128xf8E8M0FNU> -> !fp4.qtensor<16x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<1x4096xbf16>, !fp4.qtensor<16x4096xf4E2M1FN, mxfp4> -> tensor<1x16xbf16>
  return %y : tensor<1x16xbf16>
}
func.func @ragged(%x: tensor<1x4096xbf16>, %bd: tensor<13x2048xi8>, %bs: tensor<13x128xf8E8M0FNU>) -> tensor<1x13xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<13x2048xi8>, tensor<13x128xf8E8M0FNU> -> !fp4.qtensor<13x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<1x4096xbf16>, !fp4.qtensor<13x4096xf4E2M1FN, mxfp4> -> tensor<1x13xbf16>
  return %y : tensor<1x13xbf16>
}
