// RUN: fp4-opt %s -convert-fp4-to-linalg -fp4-tile-cpu-contractions | FileCheck %s
// RUN: fp4-opt %s -convert-fp4-to-linalg -fp4-tile-cpu-contractions="m-tile=16 n-tile=32" | FileCheck %s --check-prefix=TILED
// RUN: not fp4-opt %s -convert-fp4-to-linalg -fp4-tile-cpu-contractions="m-tile=-1" 2>&1 | FileCheck %s --check-prefix=BAD

// The transposing weight decode is tiled 64 (n) x 8 (k); the contraction is left
// whole by default, and both markers are gone.
// CHECK-LABEL: func.func @w8a16
// CHECK: scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c64{{(_[0-9]+)?}} step %c64{{(_[0-9]+)?}} iter_args
// CHECK: scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c128{{(_[0-9]+)?}} step %c8{{(_[0-9]+)?}} iter_args
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<8x64xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]{{.*}} outs(%{{.*}} : tensor<40x64xf32>)
// CHECK-NOT: fp4.cpu_

// With tile sizes, the contraction's m and n loops are tiled (m = 40 leaves
// a partial tile); k stays whole inside.
// TILED-LABEL: func.func @w8a16
// TILED: scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c40{{(_[0-9]+)?}} step %c16{{(_[0-9]+)?}} iter_args
// TILED: scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c64{{(_[0-9]+)?}} step %c32{{(_[0-9]+)?}} iter_args
// TILED: linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]{{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x128xf32>, tensor<128x32xf32>) outs(%{{.*}} : tensor<?x32xf32>)

// BAD: error: fp4-tile-cpu-contractions: tile sizes must be 0 (not tiled) or positive
func.func @w8a16(%x: tensor<40x128xf32>, %codes: tensor<64x128xi8>, %scales: tensor<64xf32>) -> tensor<40x64xf32> {
  %w = fp4.assemble %codes, %scales : tensor<64x128xi8>, tensor<64xf32> -> !fp4.qtensor<64x128xf8E4M3FN, fp8_per_channel>
  %y = fp4.scaled_matmul %x, %w : tensor<40x128xf32>, !fp4.qtensor<64x128xf8E4M3FN, fp8_per_channel> -> tensor<40x64xf32>
  return %y : tensor<40x64xf32>
}
