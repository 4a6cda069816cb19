//===- Glob.h - glob patterns for parameter names ----------------*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_SUPPORT_GLOB_H
#define FP4_SUPPORT_GLOB_H

#include <string_view>

namespace fp4 {

/// Does `pattern` match all of `text`? '*' matches any run of characters,
/// '?' any one character, everything else itself.
bool globMatch(std::string_view pattern, std::string_view text);

} // namespace fp4

#endif // FP4_SUPPORT_GLOB_H
