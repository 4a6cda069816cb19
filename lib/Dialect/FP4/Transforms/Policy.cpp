//===- Policy.cpp - the precision policy ----------------------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/Transforms/Policy.h"
#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Support/Glob.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/YAMLParser.h"

using namespace mlir;
using namespace mlir::fp4;

StringRef mlir::fp4::stringifyRole(Role role) {
  switch (role) {
  case Role::Expert:
    return "expert";
  case Role::Attention:
    return "attention";
  case Role::Linear:
    return "linear";
  case Role::Router:
    return "router";
  case Role::LMHead:
    return "lm_head";
  }
  return "?";
}

std::optional<Role> mlir::fp4::symbolizeRole(StringRef text) {
  return llvm::StringSwitch<std::optional<Role>>(text)
      .Case("expert", Role::Expert)
      .Case("attention", Role::Attention)
      .Case("linear", Role::Linear)
      .Case("router", Role::Router)
      .Case("lm_head", Role::LMHead)
      .Default(std::nullopt);
}

FailureOr<NamePattern> NamePattern::parse(StringRef text, std::string &error) {
  NamePattern pattern;
  pattern.text = text.str();
  if (text.consume_front("re:")) {
    pattern.regex = std::make_shared<llvm::Regex>(text);
    std::string regexError;
    if (!pattern.regex->isValid(regexError)) {
      error = "bad regular expression '" + text.str() + "': " + regexError;
      return failure();
    }
  }
  return pattern;
}

bool NamePattern::matches(StringRef name) const {
  if (regex)
    return regex->match(name);
  return ::fp4::globMatch(text, std::string_view(name.data(), name.size()));
}

Decision Policy::decide(StringRef name, Role role) const {
  for (const PolicyRule &rule : rules) {
    bool nameOk = rule.targets.empty() ||
                  llvm::any_of(rule.targets, [&](const NamePattern &pattern) {
                    return !name.empty() && pattern.matches(name);
                  });
    bool roleOk = rule.roles.empty() || llvm::is_contained(rule.roles, role);
    bool ignored = llvm::any_of(rule.ignore, [&](const NamePattern &pattern) {
      return !name.empty() && pattern.matches(name);
    });
    if (!nameOk || !roleOk || ignored)
      continue;
    Decision decision{rule.weights, rule.activations, ""};
    decision.reason = policyName + (rule.line ? ":" + std::to_string(rule.line)
                                              : std::string());
    return decision;
  }
  return Decision{"keep", "none", policyName + ": no rule matches"};
}

static bool isWeightFormat(StringRef format) {
  return llvm::is_contained({"nvfp4", "mxfp4", "mxfp8", "fp8",
                             "fp8_per_channel", "fp8_per_row", "nf4", "keep"},
                            format);
}

static bool isActivationFormat(StringRef format) {
  return llvm::is_contained(
      {"nvfp4", "mxfp4", "mxfp8", "fp8", "fp8_per_row", "none"}, format);
}

FailureOr<Policy> Policy::preset(StringRef name, std::string &error) {
  Policy policy;
  policy.policyName = "preset " + name.str();
  auto rule = [](std::vector<Role> roles, StringRef weights,
                 StringRef activations) {
    PolicyRule r;
    r.roles = std::move(roles);
    r.weights = weights.str();
    r.activations = activations.str();
    return r;
  };
  // Router, lm_head (and everything that is not a linear contraction:
  // norms, softmax, embeddings) stay in float in every preset, found by
  // role or by the usual parameter names.
  policy.rules.push_back(rule({Role::Router, Role::LMHead}, "keep", "none"));
  PolicyRule byName = rule({}, "keep", "none");
  for (const char *text : {"*lm_head*", "*router*", "*.gate.weight"}) {
    std::string ignored;
    byName.targets.push_back(*NamePattern::parse(text, ignored));
  }
  policy.rules.push_back(byName);
  if (name == "moe-fp4-fp8") {
    policy.rules.push_back(rule({Role::Expert}, "nvfp4", "nvfp4"));
    policy.rules.push_back(
        rule({Role::Attention, Role::Linear}, "fp8_per_channel", "fp8"));
    policy.kvCacheFormat = "fp8";
  } else if (name == "nvfp4") {
    policy.rules.push_back(rule({}, "nvfp4", "nvfp4"));
    policy.kvCacheFormat = "fp8";
  } else if (name == "nvfp4-weight-only") {
    policy.rules.push_back(rule({}, "nvfp4", "none"));
  } else if (name == "mxfp4") {
    policy.rules.push_back(rule({}, "mxfp4", "mxfp4"));
    policy.kvCacheFormat = "fp8";
  } else if (name == "mxfp4-mxfp8") {
    // W4A8 in OCP MX formats: MXFP4 weights, MXFP8 (E4M3) activations.
    policy.rules.push_back(rule({}, "mxfp4", "mxfp8"));
    policy.kvCacheFormat = "fp8";
  } else if (name == "fp8") {
    policy.rules.push_back(rule({}, "fp8_per_channel", "fp8"));
    policy.kvCacheFormat = "fp8";
  } else {
    error = "unknown preset '" + name.str() +
            "' (expected moe-fp4-fp8, nvfp4, nvfp4-weight-only, mxfp4, "
            "mxfp4-mxfp8 or fp8)";
    return failure();
  }
  return policy;
}

namespace {
/// How a key is spelled in the policy text: "key" in JSON, key: in YAML.
std::string keyToken(StringRef key, bool yaml) {
  return yaml ? (key + ":").str() : ("\"" + key + "\"").str();
}

/// YAML policy files: converted to the JSON value the validator reads (the
/// schema has only maps, lists and strings). Errors carry line:column.
FailureOr<llvm::json::Value> yamlToJson(StringRef text, StringRef fileName,
                                        std::string &error) {
  llvm::SourceMgr sourceMgr;
  std::string diagnostic;
  sourceMgr.setDiagHandler(
      [](const llvm::SMDiagnostic &d, void *context) {
        auto *out = static_cast<std::string *>(context);
        if (out->empty())
          *out = "[" + std::to_string(d.getLineNo()) + ":" +
                 std::to_string(d.getColumnNo() + 1) + "]: " +
                 d.getMessage().str();
      },
      &diagnostic);
  llvm::yaml::Stream stream(text, sourceMgr);
  std::function<std::optional<llvm::json::Value>(llvm::yaml::Node *)> convert =
      [&](llvm::yaml::Node *node) -> std::optional<llvm::json::Value> {
    if (!node)
      return std::nullopt;
    if (auto *map = dyn_cast<llvm::yaml::MappingNode>(node)) {
      llvm::json::Object object;
      for (llvm::yaml::KeyValueNode &entry : *map) {
        auto *key = dyn_cast_or_null<llvm::yaml::ScalarNode>(entry.getKey());
        if (!key)
          return std::nullopt;
        SmallString<32> storage;
        std::string name = key->getValue(storage).str();
        std::optional<llvm::json::Value> value = convert(entry.getValue());
        if (!value)
          return std::nullopt;
        object[name] = std::move(*value);
      }
      return llvm::json::Value(std::move(object));
    }
    if (auto *list = dyn_cast<llvm::yaml::SequenceNode>(node)) {
      llvm::json::Array array;
      for (llvm::yaml::Node &item : *list) {
        std::optional<llvm::json::Value> value = convert(&item);
        if (!value)
          return std::nullopt;
        array.push_back(std::move(*value));
      }
      return llvm::json::Value(std::move(array));
    }
    if (auto *scalar = dyn_cast<llvm::yaml::ScalarNode>(node)) {
      SmallString<32> storage;
      return llvm::json::Value(scalar->getValue(storage).str());
    }
    return std::nullopt;
  };
  std::optional<llvm::json::Value> value;
  llvm::yaml::document_iterator document = stream.begin();
  if (document != stream.end())
    value = convert(document->getRoot());
  if (!diagnostic.empty() || stream.failed() || !value) {
    error = fileName.str() + ": " +
            (diagnostic.empty() ? std::string("malformed YAML policy")
                                : diagnostic);
    return failure();
  }
  return std::move(*value);
}

/// Line of the first occurrence of `needle` at or after `from` (1-based).
int lineOf(StringRef text, StringRef needle, size_t &from) {
  size_t pos = text.find(needle, from);
  if (pos == StringRef::npos)
    return 0;
  from = pos + needle.size();
  return 1 + text.take_front(pos).count('\n');
}
} // namespace

FailureOr<Policy> Policy::parse(StringRef text, StringRef fileName,
                                std::string &error) {
  auto fail = [&](int line, const Twine &message) {
    error = (fileName + ":" + Twine(line) + ": " + message).str();
    return failure();
  };
  bool yaml = fileName.ends_with(".yaml") || fileName.ends_with(".yml");
  std::optional<llvm::json::Value> json;
  if (yaml) {
    FailureOr<llvm::json::Value> converted = yamlToJson(text, fileName, error);
    if (failed(converted))
      return failure();
    json = std::move(*converted);
  } else {
    // llvm::json reports "[line:col, byte=N]: message".
    llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(text);
    if (!parsed) {
      error = fileName.str() + ": " + llvm::toString(parsed.takeError());
      return failure();
    }
    json = std::move(*parsed);
  }
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return fail(1, "expects a map with 'rules' and 'kv_cache'");
  Policy policy;
  policy.policyName = fileName.str();
  for (const auto &entry : *root) {
    StringRef key = entry.first;
    if (key != "rules" && key != "kv_cache") {
      size_t from = 0;
      return fail(lineOf(text, keyToken(key, yaml), from),
                  "unknown key '" + key + "' (expected rules, kv_cache)");
    }
  }
  if (const llvm::json::Value *kv = root->get("kv_cache")) {
    std::optional<StringRef> format = kv->getAsString();
    size_t from = 0;
    int line = lineOf(text, keyToken("kv_cache", yaml), from);
    if (!format || !isKVCacheFormatName(*format))
      return fail(line, "kv_cache expects \"fp8\", \"nvfp4\" or \"keep\"");
    policy.kvCacheFormat = format->str();
  }
  const llvm::json::Array *rules = root->getArray("rules");
  if (!rules) {
    size_t from = 0;
    return fail(std::max(1, lineOf(text, keyToken("rules", yaml), from)),
                "expects 'rules': a list of rule objects");
  }
  // Each rule starts at the next '{' after "rules" (JSON), or at the next
  // '- ' with the indentation of the first one (YAML).
  size_t cursor = 0;
  lineOf(text, keyToken("rules", yaml), cursor);
  std::string itemToken = "{";
  if (yaml) {
    size_t dash = text.find("- ", cursor);
    size_t lineStart = text.rfind('\n', dash);
    lineStart = lineStart == StringRef::npos ? 0 : lineStart + 1;
    itemToken = "\n" + text.substr(lineStart, dash - lineStart).str() + "- ";
    if (cursor > 0)
      --cursor; // so that the first item's newline is found too
  }
  for (const llvm::json::Value &value : *rules) {
    int line = lineOf(text, itemToken, cursor);
    if (yaml && line)
      ++line; // the token starts at the newline before the item
    size_t ruleStart = cursor;
    const llvm::json::Object *object = value.getAsObject();
    if (!object)
      return fail(line, "each rule must be an object");
    PolicyRule rule;
    rule.line = line;
    rule.activations = "none";
    for (const auto &field : *object) {
      StringRef key = field.first;
      size_t from = ruleStart;
      int keyLine = lineOf(text, keyToken(key, yaml), from);
      auto strings = [&](std::vector<std::string> &out) -> LogicalResult {
        const llvm::json::Array *list = field.second.getAsArray();
        if (!list)
          return fail(keyLine, "'" + key + "' expects a list of strings");
        for (const llvm::json::Value &item : *list) {
          std::optional<StringRef> s = item.getAsString();
          if (!s)
            return fail(keyLine, "'" + key + "' expects a list of strings");
          out.push_back(s->str());
        }
        return success();
      };
      if (key == "targets" || key == "ignore") {
        std::vector<std::string> texts;
        if (failed(strings(texts)))
          return failure();
        for (const std::string &t : texts) {
          std::string why;
          FailureOr<NamePattern> pattern = NamePattern::parse(t, why);
          if (failed(pattern))
            return fail(keyLine, why);
          (key == "targets" ? rule.targets : rule.ignore).push_back(*pattern);
        }
      } else if (key == "roles") {
        std::vector<std::string> texts;
        if (failed(strings(texts)))
          return failure();
        for (const std::string &t : texts) {
          std::optional<Role> role = symbolizeRole(t);
          if (!role)
            return fail(keyLine, "unknown role '" + t +
                                     "' (expected expert, attention, linear, "
                                     "router or lm_head)");
          rule.roles.push_back(*role);
        }
      } else if (key == "weights" || key == "activations") {
        std::optional<StringRef> format = field.second.getAsString();
        bool weights = key == "weights";
        if (!format ||
            !(weights ? isWeightFormat(*format) : isActivationFormat(*format)))
          return fail(keyLine,
                      "unknown " + key + " format '" +
                          (format ? *format : StringRef("?")) + "' (expected " +
                          (weights ? "nvfp4, mxfp4, mxfp8, fp8, "
                                     "fp8_per_channel, fp8_per_row, nf4 or keep"
                                   : "nvfp4, mxfp4, mxfp8, fp8, fp8_per_row or "
                                     "none") +
                          ")");
        (weights ? rule.weights : rule.activations) = format->str();
      } else {
        return fail(keyLine, "unknown key '" + key +
                                 "' in a rule (expected targets, ignore, "
                                 "roles, weights, activations)");
      }
    }
    if (rule.weights.empty())
      return fail(line, "a rule needs 'weights' (a format or \"keep\")");
    policy.rules.push_back(std::move(rule));
  }
  return policy;
}

FailureOr<Policy> Policy::load(StringRef path, std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    error = path.str() + ": cannot open policy file: " +
            buffer.getError().message();
    return failure();
  }
  return parse((*buffer)->getBuffer(), path, error);
}
