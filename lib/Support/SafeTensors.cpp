//===- SafeTensors.cpp - read and write .safetensors checkpoints ----------===//
//
// Part of fp4-mlir. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#include "fp4/Support/SafeTensors.h"

#include <algorithm>
#include <cstring>

using namespace fp4;

namespace {

/// A small JSON reader for the safetensors header: objects, arrays, strings
/// (with escapes), integers; anything else is an error.
class JsonReader {
public:
  explicit JsonReader(const std::string &text) : text(text) {}

  bool fail(const std::string &message) {
    if (error.empty())
      error = message + " at byte " + std::to_string(pos) + " of the header";
    return false;
  }
  void skipSpace() {
    while (pos < text.size() && std::strchr(" \t\r\n", text[pos]))
      ++pos;
  }
  bool expect(char c) {
    skipSpace();
    if (pos >= text.size() || text[pos] != c)
      return fail(std::string("expected '") + c + "'");
    ++pos;
    return true;
  }
  bool peek(char c) {
    skipSpace();
    return pos < text.size() && text[pos] == c;
  }
  bool parseString(std::string &out) {
    if (!expect('"'))
      return false;
    out.clear();
    while (pos < text.size() && text[pos] != '"') {
      char c = text[pos++];
      if (c == '\\') {
        if (pos >= text.size())
          return fail("unterminated escape");
        char e = text[pos++];
        switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (pos + 4 > text.size())
            return fail("bad \\u escape");
          std::string hex = text.substr(pos, 4);
          char *end = nullptr;
          unsigned code =
              static_cast<unsigned>(std::strtoul(hex.c_str(), &end, 16));
          if (end != hex.c_str() + 4)
            return fail("bad \\u escape");
          pos += 4;
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: out += e;
        }
      } else {
        out += c;
      }
    }
    if (pos >= text.size())
      return fail("unterminated string");
    ++pos;
    return true;
  }
  bool parseInteger(int64_t &value) {
    skipSpace();
    size_t start = pos;
    if (pos < text.size() && text[pos] == '-')
      ++pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])))
      ++pos;
    if (start == pos || (text[start] == '-' && pos == start + 1))
      return fail("expected an integer");
    value = std::strtoll(text.c_str() + start, nullptr, 10);
    return true;
  }
  bool parseIntegerArray(std::vector<int64_t> &values) {
    values.clear();
    if (!expect('['))
      return false;
    if (peek(']'))
      return expect(']');
    do {
      int64_t value;
      if (!parseInteger(value))
        return false;
      values.push_back(value);
    } while (peek(',') && expect(','));
    return expect(']');
  }
  bool parseStringMap(std::map<std::string, std::string> &map) {
    if (!expect('{'))
      return false;
    if (peek('}'))
      return expect('}');
    do {
      std::string key, value;
      if (!parseString(key) || !expect(':') || !parseString(value))
        return false;
      map[key] = value;
    } while (peek(',') && expect(','));
    return expect('}');
  }

  const std::string &text;
  size_t pos = 0;
  std::string error;
};

} // namespace

const char *fp4::safetensorsDType(DType dtype) {
  switch (dtype) {
  case DType::F32: return "F32";
  case DType::F16: return "F16";
  case DType::BF16: return "BF16";
  case DType::U8: return "U8";
  case DType::I8: return "I8";
  case DType::I32: return "I32";
  case DType::I64: return "I64";
  case DType::F64: return "F64";
  }
  return "";
}

static bool elementSize(const std::string &dtype, size_t &size) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"I64", 8}, {"U64", 8}, {"F32", 4}, {"I32", 4},
      {"U32", 4}, {"F16", 2}, {"BF16", 2}, {"I16", 2}, {"U16", 2},
      {"U8", 1},  {"I8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"F8_E8M0", 1}};
  auto it = sizes.find(dtype);
  if (it == sizes.end())
    return false;
  size = it->second;
  return true;
}

std::unique_ptr<SafeTensorsReader>
SafeTensorsReader::open(const std::string &path, std::string &error) {
  std::unique_ptr<SafeTensorsReader> reader(new SafeTensorsReader());
  reader->path = path;
  reader->file = std::fopen(path.c_str(), "rb");
  if (!reader->file) {
    error = path + ": cannot open file";
    return nullptr;
  }
  std::fseek(reader->file, 0, SEEK_END);
  long fileSize = std::ftell(reader->file);
  std::fseek(reader->file, 0, SEEK_SET);
  uint8_t lenBytes[8];
  if (fileSize < 8 || std::fread(lenBytes, 1, 8, reader->file) != 8) {
    error = path + ": not a safetensors file (shorter than its 8-byte header "
                   "length)";
    return nullptr;
  }
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i)
    headerLen = (headerLen << 8) | lenBytes[i];
  if (headerLen > static_cast<uint64_t>(fileSize) - 8 || headerLen > (1u << 30)) {
    error = path + ": corrupt safetensors file (header length " +
            std::to_string(headerLen) + " exceeds the file)";
    return nullptr;
  }
  std::string header(headerLen, '\0');
  if (std::fread(header.data(), 1, headerLen, reader->file) != headerLen) {
    error = path + ": truncated safetensors header";
    return nullptr;
  }
  reader->dataStart = 8 + headerLen;
  uint64_t dataSize = static_cast<uint64_t>(fileSize) - reader->dataStart;

  JsonReader json(header);
  auto fail = [&](const std::string &what) {
    error = path + ": corrupt safetensors header: " +
            (json.error.empty() ? what : json.error);
    return nullptr;
  };
  if (!json.expect('{'))
    return fail("");
  if (!json.peek('}')) {
    do {
      std::string name;
      if (!json.parseString(name) || !json.expect(':'))
        return fail("");
      if (name == "__metadata__") {
        if (!json.parseStringMap(reader->meta))
          return fail("");
        continue;
      }
      TensorInfo info;
      info.name = name;
      std::vector<int64_t> offsets;
      bool haveDtype = false, haveShape = false, haveOffsets = false;
      if (!json.expect('{'))
        return fail("");
      do {
        std::string key;
        if (!json.parseString(key) || !json.expect(':'))
          return fail("");
        if (key == "dtype") {
          haveDtype = json.parseString(info.dtype);
          if (!haveDtype)
            return fail("");
        } else if (key == "shape") {
          haveShape = json.parseIntegerArray(info.shape);
          if (!haveShape)
            return fail("");
        } else if (key == "data_offsets") {
          haveOffsets = json.parseIntegerArray(offsets);
          if (!haveOffsets)
            return fail("");
        } else {
          return fail("unknown key '" + key + "' for tensor '" + name + "'");
        }
      } while (json.peek(',') && json.expect(','));
      if (!json.expect('}'))
        return fail("");
      if (!haveDtype || !haveShape || !haveOffsets || offsets.size() != 2)
        return fail("tensor '" + name +
                    "' needs dtype, shape and two data_offsets");
      size_t size;
      if (!elementSize(info.dtype, size))
        return fail("tensor '" + name + "' has unsupported dtype " +
                    info.dtype);
      uint64_t count = 1;
      for (int64_t dim : info.shape) {
        if (dim < 0)
          return fail("tensor '" + name + "' has a negative dimension");
        count *= static_cast<uint64_t>(dim);
      }
      if (offsets[0] < 0 || offsets[1] < offsets[0] ||
          static_cast<uint64_t>(offsets[1]) > dataSize ||
          static_cast<uint64_t>(offsets[1] - offsets[0]) != count * size)
        return fail("tensor '" + name + "' has data_offsets [" +
                    std::to_string(offsets[0]) + ", " +
                    std::to_string(offsets[1]) +
                    "] inconsistent with its shape, dtype or the file size");
      info.begin = offsets[0];
      info.end = offsets[1];
      reader->infos.push_back(std::move(info));
    } while (json.peek(',') && json.expect(','));
  }
  if (!json.expect('}'))
    return fail("");
  return reader;
}

SafeTensorsReader::~SafeTensorsReader() {
  if (file)
    std::fclose(file);
}

const TensorInfo *SafeTensorsReader::find(const std::string &name) const {
  for (const TensorInfo &info : infos)
    if (info.name == name)
      return &info;
  return nullptr;
}

bool SafeTensorsReader::read(const TensorInfo &info, NdArray &array,
                             std::string &error) const {
  static const std::map<std::string, DType> dtypes = {
      {"F32", DType::F32}, {"F16", DType::F16},   {"BF16", DType::BF16},
      {"U8", DType::U8},   {"I8", DType::I8},     {"I32", DType::I32},
      {"I64", DType::I64}, {"F64", DType::F64},   {"F8_E4M3", DType::U8},
      {"F8_E5M2", DType::U8}, {"F8_E8M0", DType::U8}, {"BOOL", DType::U8}};
  auto it = dtypes.find(info.dtype);
  if (it == dtypes.end()) {
    error = path + ": tensor '" + info.name + "' has unsupported dtype " +
            info.dtype;
    return false;
  }
  array.dtype = it->second;
  array.shape = info.shape;
  array.bytes.resize(info.end - info.begin);
  if (std::fseek(file, static_cast<long>(dataStart + info.begin), SEEK_SET) !=
          0 ||
      std::fread(array.bytes.data(), 1, array.bytes.size(), file) !=
          array.bytes.size()) {
    error = path + ": cannot read tensor '" + info.name + "'";
    return false;
  }
  return true;
}

static std::string jsonEscape(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out;
}

bool fp4::writeSafeTensors(const std::string &path,
                           const std::vector<OutputTensor> &tensors,
                           const std::map<std::string, std::string> &metadata,
                           std::string &error) {
  std::vector<const OutputTensor *> sorted;
  for (const OutputTensor &tensor : tensors)
    sorted.push_back(&tensor);
  std::sort(sorted.begin(), sorted.end(),
            [](auto *a, auto *b) { return a->name < b->name; });

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto &[key, value] : metadata) {
      header += (first ? "\"" : ",\"") + jsonEscape(key) + "\":\"" +
                jsonEscape(value) + "\"";
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const OutputTensor *tensor : sorted) {
    if (header.size() > 1)
      header += ',';
    header += "\"" + jsonEscape(tensor->name) + "\":{\"dtype\":\"" +
              tensor->dtype + "\",\"shape\":[";
    for (size_t i = 0; i < tensor->shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(tensor->shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + tensor->bytes.size()) + "]}";
    offset += tensor->bytes.size();
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' '); // align the data to 8

  std::FILE *file = std::fopen(path.c_str(), "wb");
  if (!file) {
    error = path + ": cannot open file for writing";
    return false;
  }
  uint8_t lenBytes[8];
  uint64_t len = header.size();
  for (int i = 0; i < 8; ++i)
    lenBytes[i] = static_cast<uint8_t>(len >> (8 * i));
  bool ok = std::fwrite(lenBytes, 1, 8, file) == 8 &&
            std::fwrite(header.data(), 1, header.size(), file) == header.size();
  for (const OutputTensor *tensor : sorted)
    ok = ok && std::fwrite(tensor->bytes.data(), 1, tensor->bytes.size(),
                           file) == tensor->bytes.size();
  ok = (std::fclose(file) == 0) && ok;
  if (!ok)
    error = path + ": write failed";
  return ok;
}
