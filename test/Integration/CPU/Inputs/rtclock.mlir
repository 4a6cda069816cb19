// A call into MLIR's C runner utilities (rtclock), which the JIT resolves
// from libmlir_c_runner_utils (c-runner-utils.test).
func.func private @rtclock() -> f64
func.func @forward(%x: tensor<1xf32>) -> tensor<1xf32> {
  %c0 = arith.constant 0 : index
  %t = func.call @rtclock() : () -> f64
  %f = arith.truncf %t : f64 to f32
  %y = tensor.insert %f into %x[%c0] : tensor<1xf32>
  return %y : tensor<1xf32>
}
