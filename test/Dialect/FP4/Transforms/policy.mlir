// Policy files: name patterns first, structural roles as the fallback, and
// errors that name the file and line.
// RUN: fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy.json | FileCheck %s
// RUN: fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy.yaml | FileCheck %s --check-prefix=YAML
// RUN: not fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy-bad.yaml 2>&1 | FileCheck %s --check-prefix=YAML-FORMAT
// RUN: not fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy-syntax.yaml 2>&1 | FileCheck %s --check-prefix=YAML-SYNTAX
// RUN: not fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy-unknown-key.json 2>&1 | FileCheck %s --check-prefix=KEY
// RUN: not fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy-bad-format.json 2>&1 | FileCheck %s --check-prefix=FORMAT
// RUN: not fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy-bad-regex.json 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy-bad-role.json 2>&1 | FileCheck %s --check-prefix=ROLE
// RUN: not fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/policy-syntax.json 2>&1 | FileCheck %s --check-prefix=SYNTAX
// RUN: not fp4-opt %s -fp4-assign-precision=policy=%S/Inputs/missing.json 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not fp4-opt %s -fp4-assign-precision=preset=int4 2>&1 | FileCheck %s --check-prefix=PRESET

// KEY: policy-unknown-key.json:4: unknown key 'weight' in a rule (expected targets, ignore, roles, weights, activations)
// FORMAT: policy-bad-format.json:5: unknown weights format 'int4' (expected nvfp4, mxfp4, mxfp8, fp8, fp8_per_channel, fp8_per_row, nf4 or keep)
// REGEX: policy-bad-regex.json:3: bad regular expression 'proj('
// ROLE: policy-bad-role.json:4: unknown role 'mlp' (expected expert, attention, linear, router or lm_head)
// SYNTAX: policy-syntax.json: [3:
// MISSING: missing.json: cannot open policy file
// YAML-FORMAT: policy-bad.yaml:5: unknown weights format 'int4'
// YAML-SYNTAX: policy-syntax.yaml: [3:5]: Expected , between entries!
// YAML: fp4.param = "layers.0.experts.w", fp4.reason = "{{.*}}policy.yaml:3", fp4.role = "linear", fp4.weights = "mxfp4"
// YAML: fp4.param = "layers.0.q_proj.weight", fp4.reason = "{{.*}}policy.yaml:5", fp4.role = "linear", fp4.weights = "nvfp4"
// YAML: fp4.param = "layers.0.o_proj.weight", fp4.reason = "{{.*}}policy.yaml:10", fp4.role = "linear", fp4.weights = "fp8_per_channel"
// PRESET: unknown preset 'int4' (expected moe-fp4-fp8, nvfp4, nvfp4-weight-only, mxfp4, mxfp4-mxfp8 or fp8)

// CHECK: module attributes {fp4.kv_cache = "fp8"}
// CHECK: fp4.param = "layers.0.experts.w", fp4.reason = "{{.*}}policy.json:3", fp4.role = "linear", fp4.weights = "mxfp4"
// CHECK: fp4.param = "layers.0.q_proj.weight", fp4.reason = "{{.*}}policy.json:4", fp4.role = "linear", fp4.weights = "nvfp4"
// CHECK: fp4.param = "layers.0.o_proj.weight", fp4.reason = "{{.*}}policy.json:5", fp4.role = "linear", fp4.weights = "fp8_per_channel"
func.func @f(%x: tensor<8x64xf32>) -> (tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %a = arith.constant {fp4.param_name = "layers.0.experts.w"} dense<0.5> : tensor<32x64xf32>
  %b = arith.constant {fp4.param_name = "layers.0.q_proj.weight"} dense<0.25> : tensor<32x64xf32>
  %c = arith.constant {fp4.param_name = "layers.0.o_proj.weight"} dense<0.125> : tensor<32x64xf32>
  %t_init = tensor.empty() : tensor<64x32xf32>
  %init = tensor.empty() : tensor<8x32xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<8x32xf32>) -> tensor<8x32xf32>
  %at = linalg.transpose ins(%a : tensor<32x64xf32>) outs(%t_init : tensor<64x32xf32>) permutation = [1, 0]
  %ya = linalg.matmul ins(%x, %at : tensor<8x64xf32>, tensor<64x32xf32>) outs(%fill : tensor<8x32xf32>) -> tensor<8x32xf32>
  %bt = linalg.transpose ins(%b : tensor<32x64xf32>) outs(%t_init : tensor<64x32xf32>) permutation = [1, 0]
  %yb = linalg.matmul ins(%x, %bt : tensor<8x64xf32>, tensor<64x32xf32>) outs(%fill : tensor<8x32xf32>) -> tensor<8x32xf32>
  %ct = linalg.transpose ins(%c : tensor<32x64xf32>) outs(%t_init : tensor<64x32xf32>) permutation = [1, 0]
  %yc = linalg.matmul ins(%x, %ct : tensor<8x64xf32>, tensor<64x32xf32>) outs(%fill : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %ya, %yb, %yc : tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>
}
