//===- Policy.h - the precision policy --------------------------*- C++ -*-===//
//
// Part of fp4-mlir. Which contraction gets which format: named presets and
// policy files in the style of ModelOpt / llm-compressor recipes (ordered
// rules with name patterns and structural roles). docs/policy.md explains it.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_TRANSFORMS_POLICY_H
#define FP4_DIALECT_FP4_TRANSFORMS_POLICY_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Regex.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::fp4 {

/// What a contraction is in the model, found from the IR's structure.
enum class Role { Expert, Attention, Linear, Router, LMHead };

StringRef stringifyRole(Role role);
std::optional<Role> symbolizeRole(StringRef text);

/// A name pattern: a glob ('*', '?') matched against the whole name, or
/// 're:<regex>' searched in it.
class NamePattern {
public:
  static FailureOr<NamePattern> parse(StringRef text, std::string &error);
  bool matches(StringRef name) const;
  StringRef str() const { return text; }

private:
  std::string text;
  std::shared_ptr<llvm::Regex> regex;
};

/// The formats of one decision; "keep" (or empty weights) keeps float.
struct Decision {
  std::string weights;     // nvfp4, mxfp4, mxfp8, fp8, fp8_per_channel, nf4, keep
  std::string activations; // nvfp4, mxfp4, mxfp8, fp8, none
  std::string reason;      // which rule decided
  bool keep() const { return weights.empty() || weights == "keep"; }
};

struct PolicyRule {
  std::vector<NamePattern> targets; // any matches (empty: no name condition)
  std::vector<Role> roles;          // any matches (empty: no role condition)
  std::vector<NamePattern> ignore;  // a match excludes the op from this rule
  std::string weights, activations;
  int line = 0;                     // in the policy file, for reasons
};

class Policy {
public:
  /// The presets: moe-fp4-fp8 (default), nvfp4, nvfp4-weight-only, mxfp4, fp8.
  static FailureOr<Policy> preset(StringRef name, std::string &error);
  /// A JSON policy file; errors name the line.
  static FailureOr<Policy> parse(StringRef text, StringRef fileName,
                                 std::string &error);
  static FailureOr<Policy> load(StringRef path, std::string &error);

  /// The first rule that matches `name` (possibly empty) and `role`.
  Decision decide(StringRef name, Role role) const;
  /// The KV-cache format: fp8, nvfp4 or keep.
  StringRef kvCache() const { return kvCacheFormat; }
  StringRef name() const { return policyName; }

private:
  std::string policyName;
  std::vector<PolicyRule> rules;
  std::string kvCacheFormat = "keep";
};

} // namespace mlir::fp4

#endif // FP4_DIALECT_FP4_TRANSFORMS_POLICY_H
