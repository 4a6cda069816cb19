// RUN: fp4-opt %s -fp4-assign-precision -fp4-quantize-linalg -verify-diagnostics | FileCheck %s
// RUN: fp4-opt %s -fp4-quantize-pipeline -verify-diagnostics | FileCheck %s --check-prefix=PIPE

// nn.Linear under moe-fp4-fp8: FP8 weights per channel, FP8 activations per
// tensor; experts: NVFP4 weights and activations; the router stays.
// CHECK-LABEL: func.func @layers
// CHECK-SAME: (%[[X:.*]]: tensor<8x64xf32>, %[[XE:.*]]: tensor<4x8x64xf32>)
// CHECK-DAG: %[[ROUTER:.*]] = arith.constant dense<5.000000e-01> : tensor<4x64xf32>
// CHECK-DAG: %[[EXPERTS:.*]] = arith.constant dense<2.500000e-01> : tensor<4x32x64xf32>
// CHECK-DAG: %[[DENSE:.*]] = arith.constant dense<1.250000e-01> : tensor<32x64xf32>
// CHECK: linalg.matmul {{.*}}fp4.role = "router"
// CHECK: %[[WE:.*]] = fp4.quantize %[[EXPERTS]] : tensor<4x32x64xf32> -> !fp4.qtensor<4x32x64xf4E2M1FN, nvfp4>
// CHECK: %[[AE:.*]] = fp4.quantize %[[XE]] : tensor<4x8x64xf32> -> !fp4.qtensor<4x8x64xf4E2M1FN, nvfp4>
// CHECK: fp4.scaled_matmul %[[AE]], %[[WE]] : !fp4.qtensor<4x8x64xf4E2M1FN, nvfp4>, !fp4.qtensor<4x32x64xf4E2M1FN, nvfp4> -> tensor<4x8x32xf32>
// CHECK: %[[WD:.*]] = fp4.quantize %[[DENSE]] : tensor<32x64xf32> -> !fp4.qtensor<32x64xf8E4M3FN, fp8_per_channel>
// CHECK: %[[AD:.*]] = fp4.quantize %[[X]] : tensor<8x64xf32> -> !fp4.qtensor<8x64xf8E4M3FN, fp8>
// CHECK: fp4.scaled_matmul %[[AD]], %[[WD]] : !fp4.qtensor<8x64xf8E4M3FN, fp8>, !fp4.qtensor<32x64xf8E4M3FN, fp8_per_channel> -> tensor<8x32xf32>

// The pipeline folds the weights into fp4.constant and cleans up.
// PIPE-LABEL: func.func @layers
// PIPE: fp4.constant data(dense_resource<{{.*}}> : tensor<4x32x32xi8>) scales(dense_resource<{{.*}}> : tensor<4x32x4xf8E4M3FN>) global_scale(dense<{{.*}}> : tensor<f32>) : !fp4.qtensor<4x32x64xf4E2M1FN, nvfp4>
// PIPE: fp4.scaled_matmul
// PIPE: fp4.constant data(dense_resource<{{.*}}> : tensor<32x64xi8>) scales(dense<{{.*}}> : tensor<32xf32>) : !fp4.qtensor<32x64xf8E4M3FN, fp8_per_channel>
// PIPE: fp4.scaled_matmul
func.func @layers(%x: tensor<8x64xf32>, %xe: tensor<4x8x64xf32>) -> (tensor<8x4xf32>, tensor<4x8x32xf32>, tensor<8x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %router = arith.constant dense<0.5> : tensor<4x64xf32>
  %experts = arith.constant dense<0.25> : tensor<4x32x64xf32>
  %dense = arith.constant dense<0.125> : tensor<32x64xf32>
  %rt_init = tensor.empty() : tensor<64x4xf32>
  %rt = linalg.transpose ins(%router : tensor<4x64xf32>) outs(%rt_init : tensor<64x4xf32>) permutation = [1, 0]
  %r_init = tensor.empty() : tensor<8x4xf32>
  %r_fill = linalg.fill ins(%zero : f32) outs(%r_init : tensor<8x4xf32>) -> tensor<8x4xf32>
  // expected-remark @+1 {{kept in float: role router}}
  %r = linalg.matmul ins(%x, %rt : tensor<8x64xf32>, tensor<64x4xf32>) outs(%r_fill : tensor<8x4xf32>) -> tensor<8x4xf32>
  %et_init = tensor.empty() : tensor<4x64x32xf32>
  %et = linalg.transpose ins(%experts : tensor<4x32x64xf32>) outs(%et_init : tensor<4x64x32xf32>) permutation = [0, 2, 1]
  %e_init = tensor.empty() : tensor<4x8x32xf32>
  %e_fill = linalg.fill ins(%zero : f32) outs(%e_init : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %e = linalg.batch_matmul ins(%xe, %et : tensor<4x8x64xf32>, tensor<4x64x32xf32>) outs(%e_fill : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %dt_init = tensor.empty() : tensor<64x32xf32>
  %dt = linalg.transpose ins(%dense : tensor<32x64xf32>) outs(%dt_init : tensor<64x32xf32>) permutation = [1, 0]
  %d_init = tensor.empty() : tensor<8x32xf32>
  %d_fill = linalg.fill ins(%zero : f32) outs(%d_init : tensor<8x32xf32>) -> tensor<8x32xf32>
  %d = linalg.matmul ins(%x, %dt : tensor<8x64xf32>, tensor<64x32xf32>) outs(%d_fill : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %r, %e, %d : tensor<8x4xf32>, tensor<4x8x32xf32>, tensor<8x32xf32>
}
