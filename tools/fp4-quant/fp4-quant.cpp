//===- fp4-quant.cpp - quantize, dequantize and inspect weights -----------===//
//
// Part of fp4-mlir. A command-line tool for people who handle weights:
//
//   fp4-quant quantize --format nvfp4 W.npy -o OUTDIR
//   fp4-quant dequantize OUTDIR -o W2.npy
//   fp4-quant inspect W.npy --format nvfp4
//   fp4-quant quantize --format nvfp4 model.safetensors -o model-nvfp4.safetensors
//   fp4-quant dequantize model-nvfp4.safetensors -o restored.safetensors
//
// Run `fp4-quant --help` for every option. Errors name the file and the
// problem and exit with status 1.
//
//===----------------------------------------------------------------------===//

#include "fp4/Numerics/ElementFormats.h"
#include "fp4/Numerics/Quantize.h"
#include "fp4/Support/Glob.h"
#include "fp4/Support/Npy.h"
#include "fp4/Support/SafeTensors.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <regex>
#include <sys/stat.h>

using namespace fp4;
using namespace fp4::numerics;

namespace {

const char *kUsage =
    R"(fp4-quant: quantize, dequantize and inspect weights in FP4/FP8 formats

Usage:
  fp4-quant quantize   --format F [options] IN.npy -o OUTDIR
  fp4-quant quantize   --format nvfp4 [options] IN.safetensors -o OUT.safetensors
  fp4-quant dequantize OUTDIR -o OUT.npy [--dtype float32|bfloat16]
  fp4-quant dequantize IN.safetensors -o OUT.safetensors [--dtype float32|bfloat16]
  fp4-quant inspect    IN.npy|OUTDIR|IN.safetensors [--format F] [options]

Formats (--format): nvfp4, mxfp4, mxfp8, fp8, nf4.
Options:
  --rule R               nvfp4: modelopt (default), torchao, compressed_tensors;
                         mxfp4/mxfp8: floor (default, OCP), rceil
  --block-scales S       nvfp4 (modelopt): max (default), four_over_six or mse
                         (block scales searched by squared error); fp8: max or
                         mse (tensor or channel scale searched)
  --element E            mxfp8/fp8 element: e4m3 (default) or e5m2
  --per-channel          fp8: one scale per row (output channel)
  --double-quant         nf4: quantize the absmax values again (bitsandbytes)
  --axis N               the axis blocks run along (default: the last)
  --scale-layout L       linear (default) or swizzled (Blackwell 128x4 tiles)
  --nibble-order O       low (default: even element in the low nibble) or high
                         (bitsandbytes)
  --threads N            worker threads (default: all)
  --include PATTERN      safetensors: quantize only matching tensor names
  --exclude PATTERN      safetensors: keep matching tensors in high precision
                         (glob like '*experts*', or 're:<regex>'; repeatable)
  --dtype T              dequantize: output float32 (default) or bfloat16
  -o PATH                output directory, .npy or .safetensors file
  -q, --quiet            no progress lines

quantize writes OUTDIR/data.npy (uint8, packed codes), OUTDIR/scales.npy
(uint8, the raw bytes of the scale format; float32 scales as 4 bytes each),
OUTDIR/global_scale.npy (float32, two-level formats) and OUTDIR/meta.txt.
For .safetensors it writes a compressed-tensors 'nvfp4-pack-quantized'
checkpoint: <name>_packed, <name>_scale, <name>_global_scale per weight.
)";

struct Options {
  std::string command;
  std::vector<std::string> inputs;
  std::string output;
  std::optional<Scheme> scheme;
  QuantConfig config;
  std::optional<int64_t> axis;
  std::vector<std::string> includes, excludes;
  bool bf16Output = false;
  bool quiet = false;
};

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "fp4-quant: error: %s\n", message.c_str());
  std::exit(1);
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool isDirectory(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

Options parseArgs(int argc, char **argv) {
  Options options;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, stdout);
    std::exit(argc < 2 ? 1 : 0);
  }
  options.command = argv[1];
  if (options.command != "quantize" && options.command != "dequantize" &&
      options.command != "inspect")
    fail("unknown command '" + options.command +
         "' (expected quantize, dequantize or inspect; see --help)");
  std::optional<std::string> element, rule, layout, nibbles;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        fail("option " + arg + " expects a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "-o" || arg == "--output") {
      options.output = value();
    } else if (arg == "--format") {
      std::string text = value();
      options.scheme = parseScheme(text);
      if (!options.scheme)
        fail("unknown format '" + text +
             "' (expected nvfp4, mxfp4, mxfp8, fp8 or nf4)");
    } else if (arg == "--rule") {
      rule = value();
    } else if (arg == "--block-scales") {
      std::string text = value();
      std::optional<BlockScales> parsed = parseBlockScales(text);
      if (!parsed)
        fail("unknown --block-scales '" + text +
             "' (expected max, four_over_six or mse)");
      options.config.blockScales = *parsed;
    } else if (arg == "--element") {
      element = value();
    } else if (arg == "--per-channel") {
      options.config.perChannel = true;
    } else if (arg == "--double-quant") {
      options.config.doubleQuant = true;
    } else if (arg == "--axis") {
      std::string text = value();
      char *end = nullptr;
      long long axis = std::strtoll(text.c_str(), &end, 10);
      if (end == text.c_str() || *end)
        fail("--axis expects an integer, got '" + text + "'");
      options.axis = axis;
    } else if (arg == "--scale-layout") {
      layout = value();
    } else if (arg == "--nibble-order") {
      nibbles = value();
    } else if (arg == "--threads") {
      std::string text = value();
      char *end = nullptr;
      long threads = std::strtol(text.c_str(), &end, 10);
      if (end == text.c_str() || *end || threads < 0 || threads > 1024)
        fail("--threads expects a count from 0 to 1024, got '" + text + "'");
      options.config.threads = static_cast<unsigned>(threads);
    } else if (arg == "--include") {
      options.includes.push_back(value());
    } else if (arg == "--exclude") {
      options.excludes.push_back(value());
    } else if (arg == "--dtype") {
      std::string text = value();
      if (text != "float32" && text != "bfloat16")
        fail("--dtype expects float32 or bfloat16, got '" + text + "'");
      options.bf16Output = text == "bfloat16";
    } else if (arg == "-q" || arg == "--quiet") {
      options.quiet = true;
    } else if (!arg.empty() && arg[0] == '-') {
      fail("unknown option '" + arg + "' (see --help)");
    } else {
      options.inputs.push_back(arg);
    }
  }
  if (options.inputs.size() != 1)
    fail(options.command + " expects one input, got " +
         std::to_string(options.inputs.size()));
  if (options.command != "inspect" && options.output.empty())
    fail(options.command + " expects an output: -o PATH");

  if (options.scheme) {
    options.config = [&] {
      QuantConfig config = *QuantConfig::forScheme(*options.scheme);
      config.perChannel = options.config.perChannel;
      config.doubleQuant = options.config.doubleQuant;
      config.blockScales = options.config.blockScales;
      config.threads = options.config.threads;
      return config;
    }();
  } else if (options.command == "quantize" &&
             !endsWith(options.inputs[0], ".safetensors")) {
    fail("quantize expects --format nvfp4|mxfp4|mxfp8|fp8|nf4");
  }
  if (rule) {
    std::optional<Rule> parsed = parseRule(*rule);
    if (!parsed)
      fail("unknown rule '" + *rule +
           "' (expected modelopt, torchao, compressed_tensors, floor or rceil)");
    options.config.rule = *parsed;
  }
  if (element) {
    std::optional<ElementFormat> parsed = parseElementFormat(*element);
    if (!parsed || (*parsed != ElementFormat::E4M3 && *parsed != ElementFormat::E5M2))
      fail("--element expects e4m3 or e5m2, got '" + *element + "'");
    options.config.element = *parsed;
  }
  if (layout) {
    if (*layout != "linear" && *layout != "swizzled")
      fail("--scale-layout expects linear or swizzled, got '" + *layout + "'");
    options.config.swizzleScales = *layout == "swizzled";
  }
  if (nibbles) {
    if (*nibbles != "low" && *nibbles != "high")
      fail("--nibble-order expects low or high, got '" + *nibbles + "'");
    options.config.nibbleOrder =
        *nibbles == "low" ? NibbleOrder::LowFirst : NibbleOrder::HighFirst;
  }
  return options;
}

//===----------------------------------------------------------------------===//
// Tensor helpers
//===----------------------------------------------------------------------===//

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::optional<InputType> inputTypeOf(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return InputType::F32;
  case DType::F16:
    return InputType::F16;
  case DType::BF16:
    return InputType::BF16;
  default:
    return std::nullopt;
  }
}

/// An array's bytes wherever they live: an NdArray or a memory-mapped file.
struct ArrayView {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;
  size_t size = 0;

  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t dim : shape)
      n *= dim;
    return n;
  }
};

ArrayView viewOf(const NdArray &array) {
  return {array.dtype, array.shape, array.bytes.data(), array.bytes.size()};
}

ArrayView viewOf(const MappedNpy &mapped) {
  return {mapped.dtype, mapped.shape, mapped.data, mapped.size};
}

float loadAsFloat(const ArrayView &array, int64_t i) {
  uint16_t half;
  switch (array.dtype) {
  case DType::F32: {
    float value;
    std::memcpy(&value, array.data + 4 * i, 4);
    return value;
  }
  case DType::F16:
    std::memcpy(&half, array.data + 2 * i, 2);
    return halfToFloat(half);
  case DType::BF16:
    std::memcpy(&half, array.data + 2 * i, 2);
    return bf16ToFloat(half);
  default:
    return 0.0f;
  }
}

/// Moves `axis` of `array` to the last position (a copy), so that blocks run
/// along contiguous memory. Only called when `axis` is not already last.
NdArray moveAxisLast(const ArrayView &array, int64_t axis) {
  int64_t rank = array.shape.size();
  int64_t outer = 1, inner = 1, dim = array.shape[axis];
  for (int64_t i = 0; i < axis; ++i)
    outer *= array.shape[i];
  for (int64_t i = axis + 1; i < rank; ++i)
    inner *= array.shape[i];
  size_t size = dtypeSize(array.dtype);
  NdArray moved;
  moved.dtype = array.dtype;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis)
      moved.shape.push_back(array.shape[i]);
  moved.shape.push_back(dim);
  moved.bytes.resize(array.size);
  // [outer, dim, inner] -> [outer, inner, dim]
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t n = 0; n < inner; ++n)
        std::memcpy(&moved.bytes[((o * inner + n) * dim + d) * size],
                    &array.data[((o * dim + d) * inner + n) * size], size);
  return moved;
}

/// Inverse of moveAxisLast for float32 data with the original `shape`.
std::vector<float> moveLastAxisBack(const std::vector<float> &values,
                                    const std::vector<int64_t> &shape,
                                    int64_t axis) {
  int64_t rank = shape.size();
  if (axis == rank - 1)
    return values;
  int64_t outer = 1, inner = 1, dim = shape[axis];
  for (int64_t i = 0; i < axis; ++i)
    outer *= shape[i];
  for (int64_t i = axis + 1; i < rank; ++i)
    inner *= shape[i];
  std::vector<float> out(values.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t n = 0; n < inner; ++n)
        out[(o * dim + d) * inner + n] = values[(o * inner + n) * dim + d];
  return out;
}

struct ErrorStats {
  double sqnrDb = 0, maxAbsError = 0;
};

ErrorStats measure(const ArrayView &reference, const std::vector<float> &values) {
  double signal = 0, noise = 0, maxError = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    double x = loadAsFloat(reference, static_cast<int64_t>(i));
    double e = x - values[i];
    signal += x * x;
    noise += e * e;
    maxError = std::max(maxError, std::fabs(e));
  }
  ErrorStats stats;
  stats.maxAbsError = maxError;
  stats.sqnrDb = noise == 0 ? INFINITY : 10.0 * std::log10(signal / noise);
  return stats;
}

std::string bytesString(double bytes) {
  char buffer[32];
  if (bytes >= 1 << 30)
    std::snprintf(buffer, sizeof buffer, "%.2f GiB", bytes / (1 << 30));
  else if (bytes >= 1 << 20)
    std::snprintf(buffer, sizeof buffer, "%.2f MiB", bytes / (1 << 20));
  else if (bytes >= 1 << 10)
    std::snprintf(buffer, sizeof buffer, "%.2f KiB", bytes / (1 << 10));
  else
    std::snprintf(buffer, sizeof buffer, "%.0f B", bytes);
  return buffer;
}

size_t storedBytes(const QuantizedTensor &q) {
  size_t bytes = q.data.size() + q.scales.size();
  if (q.config.scheme == Scheme::NVFP4)
    bytes += 4;
  bytes += q.absmaxCodes.size() + 4 * q.absmaxScales.size() +
           (q.config.doubleQuant ? 4 : 0);
  return bytes;
}

/// Quantizes `array` (blocked along `axis`) with a progress line on stderr
/// for large tensors. Blocked along the last axis, the bytes are read in
/// place (a mapped file streams through); another axis costs one copy.
QuantizedTensor quantizeArray(const ArrayView &array, const std::string &what,
                              const Options &options, int64_t axis) {
  std::optional<InputType> type = inputTypeOf(array.dtype);
  if (!type)
    fail(what + ": unsupported dtype " + dtypeName(array.dtype) +
         " (expected float32, float16 or bfloat16)");
  if (array.shape.empty())
    fail(what + ": cannot quantize a scalar");
  NdArray moved;
  const void *data = array.data;
  int64_t cols = array.shape[axis];
  if (axis != static_cast<int64_t>(array.shape.size()) - 1) {
    moved = moveAxisLast(array, axis);
    data = moved.bytes.data();
  }
  TensorView view;
  view.data = data;
  view.type = *type;
  view.cols = cols;
  view.rows = cols ? array.numElements() / cols : 0;
  std::string problem = options.config.check(view.rows, view.cols);
  if (!problem.empty())
    fail(what + " " + shapeString(array.shape) + ": " + problem);

  auto start = std::chrono::steady_clock::now();
  bool report = !options.quiet && array.size >= (64u << 20);
  auto lastReport = start;
  ProgressFn progress = [&](int64_t rowsDone) {
    if (!report)
      return;
    auto now = std::chrono::steady_clock::now();
    if (now - lastReport < std::chrono::milliseconds(500) && rowsDone < view.rows)
      return;
    lastReport = now;
    double seconds = std::chrono::duration<double>(now - start).count();
    double done = static_cast<double>(rowsDone) / view.rows;
    std::fprintf(stderr, "  %s: %3.0f%%  %.2f GB/s\n", what.c_str(), 100 * done,
                 done * array.size / 1e9 / std::max(seconds, 1e-9));
  };
  QuantizedTensor q;
  std::string error = quantize(view, options.config, q, progress);
  if (!error.empty())
    fail(what + ": " + error);
  return q;
}

/// Maps a .npy input (no copy of its data).
std::unique_ptr<MappedNpy> mapOrFail(const std::string &path) {
  std::string error;
  std::unique_ptr<MappedNpy> mapped = MappedNpy::open(path, error);
  if (!mapped)
    fail(error);
  return mapped;
}

//===----------------------------------------------------------------------===//
// .npy directories
//===----------------------------------------------------------------------===//

NdArray makeU8(const std::vector<uint8_t> &bytes, std::vector<int64_t> shape) {
  NdArray array;
  array.dtype = DType::U8;
  array.shape = std::move(shape);
  array.bytes = bytes;
  return array;
}

void writeOrFail(const std::string &path, const NdArray &array) {
  std::string error;
  if (!writeNpy(path, array, error))
    fail(error);
}

int64_t normalizeAxis(const Options &options, int64_t rank,
                      const std::string &what) {
  int64_t axis = options.axis.value_or(rank - 1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis >= rank)
    fail(what + ": --axis " + std::to_string(*options.axis) +
         " is out of range for rank " + std::to_string(rank));
  return axis;
}

int quantizeNpy(const Options &options) {
  const std::string &input = options.inputs[0];
  std::unique_ptr<MappedNpy> mapped = mapOrFail(input);
  ArrayView array = viewOf(*mapped);
  if (array.shape.empty())
    fail(input + ": cannot quantize a scalar");
  int64_t axis = normalizeAxis(options, array.shape.size(), input);
  QuantizedTensor q = quantizeArray(array, input, options, axis);

  if (!isDirectory(options.output) && mkdir(options.output.c_str(), 0755) != 0)
    fail(options.output + ": cannot create directory");
  std::vector<int64_t> blockedShape;
  for (size_t i = 0; i < array.shape.size(); ++i)
    if (static_cast<int64_t>(i) != axis)
      blockedShape.push_back(array.shape[i]);
  blockedShape.push_back(array.shape[axis]);
  std::vector<int64_t> dataShape = blockedShape;
  if (bitWidth(q.config.element) == 4)
    dataShape.back() /= 2;
  writeOrFail(options.output + "/data.npy", makeU8(q.data, dataShape));
  std::vector<int64_t> scaleShape;
  if (q.config.swizzleScales)
    scaleShape = {static_cast<int64_t>(q.scales.size())};
  else if (q.config.scaleFormat() == ScaleFormat::F32)
    scaleShape = {q.scaleRows, q.scaleCols, 4};
  else
    scaleShape = {q.scaleRows, q.scaleCols};
  if (!q.config.doubleQuant) // double quantization stores absmax_*.npy instead
    writeOrFail(options.output + "/scales.npy", makeU8(q.scales, scaleShape));
  if (q.config.scheme == Scheme::NVFP4) {
    NdArray global;
    global.dtype = DType::F32;
    global.shape = {};
    global.bytes.resize(4);
    std::memcpy(global.bytes.data(), &q.globalScale, 4);
    writeOrFail(options.output + "/global_scale.npy", global);
  }
  if (q.config.doubleQuant) {
    writeOrFail(options.output + "/absmax_codes.npy",
                makeU8(q.absmaxCodes, {static_cast<int64_t>(q.absmaxCodes.size())}));
    NdArray scales;
    scales.dtype = DType::F32;
    scales.shape = {static_cast<int64_t>(q.absmaxScales.size())};
    scales.bytes.resize(4 * q.absmaxScales.size());
    std::memcpy(scales.bytes.data(), q.absmaxScales.data(), scales.bytes.size());
    writeOrFail(options.output + "/absmax_scales.npy", scales);
  }
  // meta.txt: what dequantize needs, one key=value per line.
  std::FILE *meta = std::fopen((options.output + "/meta.txt").c_str(), "w");
  if (!meta)
    fail(options.output + "/meta.txt: cannot open file for writing");
  std::fprintf(meta, "format=%s\nelement=%s\nrule=%s\nper_channel=%d\n"
                     "double_quant=%d\nnibble_order=%s\nscale_layout=%s\n"
                     "axis=%lld\nshape=",
               std::string(name(q.config.scheme)).c_str(),
               std::string(name(q.config.element)).c_str(),
               std::string(name(q.config.effectiveRule())).c_str(),
               q.config.perChannel, q.config.doubleQuant,
               q.config.nibbleOrder == NibbleOrder::LowFirst ? "low" : "high",
               q.config.swizzleScales ? "swizzled" : "linear",
               static_cast<long long>(axis));
  for (size_t i = 0; i < array.shape.size(); ++i)
    std::fprintf(meta, "%s%lld", i ? "," : "",
                 static_cast<long long>(array.shape[i]));
  std::fprintf(meta, "\nglobal_scale_stored=%.9g\nabsmax_offset=%.9g\n",
               q.globalScaleStored, q.absmaxOffset);
  std::fclose(meta);
  if (!options.quiet)
    std::printf("%s %s -> %s: %s -> %s\n", input.c_str(),
                shapeString(array.shape).c_str(), options.output.c_str(),
                bytesString(array.size).c_str(),
                bytesString(storedBytes(q)).c_str());
  return 0;
}

/// Reads a quantize output directory back into a QuantizedTensor.
QuantizedTensor readQuantizedDir(const std::string &dir,
                                 std::vector<int64_t> &shape, int64_t &axis) {
  std::FILE *meta = std::fopen((dir + "/meta.txt").c_str(), "r");
  if (!meta)
    fail(dir + ": not a fp4-quant output directory (no meta.txt)");
  std::map<std::string, std::string> keys;
  char line[4096];
  while (std::fgets(line, sizeof line, meta)) {
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
      text.pop_back();
    size_t eq = text.find('=');
    if (eq != std::string::npos)
      keys[text.substr(0, eq)] = text.substr(eq + 1);
  }
  std::fclose(meta);
  auto get = [&](const char *key) {
    auto it = keys.find(key);
    if (it == keys.end())
      fail(dir + "/meta.txt: missing '" + key + "'");
    return it->second;
  };
  std::optional<Scheme> scheme = parseScheme(get("format"));
  std::optional<ElementFormat> element = parseElementFormat(get("element"));
  std::optional<Rule> rule = parseRule(get("rule"));
  if (!scheme || !element || !rule)
    fail(dir + "/meta.txt: bad format, element or rule");
  QuantizedTensor q;
  q.config = *QuantConfig::forScheme(*scheme);
  q.config.element = *element;
  q.config.rule = *rule;
  q.config.perChannel = get("per_channel") == "1";
  q.config.doubleQuant = get("double_quant") == "1";
  q.config.nibbleOrder =
      get("nibble_order") == "high" ? NibbleOrder::HighFirst : NibbleOrder::LowFirst;
  q.config.swizzleScales = get("scale_layout") == "swizzled";
  axis = std::strtoll(get("axis").c_str(), nullptr, 10);
  shape.clear();
  std::string dims = get("shape");
  for (size_t pos = 0; pos < dims.size();) {
    size_t comma = dims.find(',', pos);
    if (comma == std::string::npos)
      comma = dims.size();
    shape.push_back(std::strtoll(dims.substr(pos, comma - pos).c_str(), nullptr, 10));
    pos = comma + 1;
  }
  if (shape.empty() || axis < 0 || axis >= static_cast<int64_t>(shape.size()))
    fail(dir + "/meta.txt: bad shape or axis");
  q.cols = shape[axis];
  q.rows = 1;
  for (int64_t dim : shape)
    q.rows *= dim;
  q.rows = q.cols ? q.rows / q.cols : 0;
  std::string problem = q.config.check(q.rows, q.cols);
  if (!problem.empty())
    fail(dir + "/meta.txt: " + problem);

  std::string error;
  NdArray data, scales;
  if (!readNpy(dir + "/data.npy", data, error) ||
      (!q.config.doubleQuant && !readNpy(dir + "/scales.npy", scales, error)))
    fail(error);
  size_t wantData = bitWidth(q.config.element) == 4 ? q.rows * q.cols / 2
                                                    : q.rows * q.cols;
  if (data.dtype != DType::U8 || data.bytes.size() != wantData)
    fail(dir + "/data.npy: expected " + std::to_string(wantData) +
         " uint8 codes for shape " + shapeString(shape));
  q.data = data.bytes;
  q.scaleCols = q.config.blockSize() ? q.cols / q.config.blockSize() : 1;
  q.scaleRows = (q.config.blockSize() || q.config.perChannel) ? q.rows : 1;
  size_t scaleBytes = (q.config.scaleFormat() == ScaleFormat::F32 ? 4 : 1);
  size_t wantScales =
      q.config.swizzleScales
          ? swizzledScaleBytes(q.scaleRows, q.scaleCols)
          : static_cast<size_t>(q.scaleRows * q.scaleCols) * scaleBytes;
  if (!q.config.doubleQuant &&
      (scales.dtype != DType::U8 || scales.bytes.size() != wantScales))
    fail(dir + "/scales.npy: expected " + std::to_string(wantScales) +
         " scale bytes for shape " + shapeString(shape));
  q.scales = scales.bytes;
  if (q.config.scheme == Scheme::NVFP4) {
    NdArray global;
    if (!readNpy(dir + "/global_scale.npy", global, error))
      fail(error);
    if (global.dtype != DType::F32 || global.numElements() != 1)
      fail(dir + "/global_scale.npy: expected one float32");
    q.globalScale = global.data<float>()[0];
    q.globalScaleStored = std::strtof(get("global_scale_stored").c_str(), nullptr);
  }
  if (q.config.doubleQuant) {
    NdArray codes, absScales;
    if (!readNpy(dir + "/absmax_codes.npy", codes, error) ||
        !readNpy(dir + "/absmax_scales.npy", absScales, error))
      fail(error);
    size_t blocks = static_cast<size_t>(q.scaleRows * q.scaleCols);
    if (codes.dtype != DType::U8 || codes.bytes.size() != blocks ||
        absScales.dtype != DType::F32 ||
        static_cast<size_t>(absScales.numElements()) != (blocks + 255) / 256)
      fail(dir + ": absmax_codes.npy / absmax_scales.npy do not match shape " +
           shapeString(shape));
    q.absmaxCodes = codes.bytes;
    q.absmaxScales.resize(absScales.numElements());
    std::memcpy(q.absmaxScales.data(), absScales.bytes.data(), absScales.bytes.size());
    q.absmaxOffset = std::strtof(get("absmax_offset").c_str(), nullptr);
  }
  return q;
}

NdArray floatArray(const std::vector<float> &values,
                   const std::vector<int64_t> &shape, bool bf16) {
  NdArray out;
  out.shape = shape;
  if (bf16) {
    out.dtype = DType::BF16;
    out.bytes.resize(values.size() * 2);
    for (size_t i = 0; i < values.size(); ++i) {
      uint16_t bits = floatToBF16(values[i]);
      std::memcpy(&out.bytes[2 * i], &bits, 2);
    }
  } else {
    out.dtype = DType::F32;
    out.bytes.resize(values.size() * 4);
    std::memcpy(out.bytes.data(), values.data(), out.bytes.size());
  }
  return out;
}

int dequantizeDir(const Options &options) {
  std::vector<int64_t> shape;
  int64_t axis;
  QuantizedTensor q = readQuantizedDir(options.inputs[0], shape, axis);
  std::vector<float> values(q.rows * q.cols);
  dequantize(q, values.data());
  values = moveLastAxisBack(values, shape, axis);
  writeOrFail(options.output, floatArray(values, shape, options.bf16Output));
  if (!options.quiet)
    std::printf("%s -> %s %s\n", options.inputs[0].c_str(),
                options.output.c_str(), shapeString(shape).c_str());
  return 0;
}

//===----------------------------------------------------------------------===//
// safetensors checkpoints (compressed-tensors nvfp4-pack-quantized)
//===----------------------------------------------------------------------===//

/// A --include / --exclude pattern: a glob ('*', '?') matched against the
/// whole name, or 're:<regex>' searched in it (ModelOpt / llm-compressor
/// recipe conventions).
struct Pattern {
  std::string text;
  std::optional<std::regex> regex;

  bool matches(const std::string &name) const {
    if (regex)
      return std::regex_search(name, *regex);
    return globMatch(text, name);
  }
};

/// Compiles the patterns up front so that a bad regular expression is an
/// error before any work (this file is built with exceptions for std::regex).
std::vector<Pattern> compilePatterns(const std::vector<std::string> &texts) {
  std::vector<Pattern> patterns;
  for (const std::string &text : texts) {
    Pattern pattern{text, std::nullopt};
    if (text.rfind("re:", 0) == 0) {
      try {
        pattern.regex.emplace(text.substr(3));
      } catch (const std::regex_error &e) {
        fail("bad regular expression in pattern '" + text + "': " + e.what());
      }
    }
    patterns.push_back(std::move(pattern));
  }
  return patterns;
}

bool selected(const Options &options, const TensorInfo &info) {
  static const std::vector<Pattern> includes = compilePatterns(options.includes);
  static const std::vector<Pattern> excludes = compilePatterns(options.excludes);
  bool floatWeight = (info.dtype == "F32" || info.dtype == "BF16" ||
                      info.dtype == "F16") &&
                     info.shape.size() == 2 && endsWith(info.name, ".weight");
  if (!floatWeight)
    return false;
  bool included = includes.empty();
  for (const Pattern &pattern : includes)
    included = included || pattern.matches(info.name);
  for (const Pattern &pattern : excludes)
    if (pattern.matches(info.name))
      return false;
  return included;
}

int quantizeCheckpoint(const Options &options) {
  const std::string &input = options.inputs[0];
  if (options.scheme && *options.scheme != Scheme::NVFP4)
    fail("safetensors output is the compressed-tensors nvfp4-pack-quantized "
         "format: use --format nvfp4");
  if (options.config.blockScales != BlockScales::Max)
    fail("--block-scales applies to .npy tensors (modelopt rule); "
         "compressed-tensors checkpoints use their own rule");
  Options nvfp4 = options;
  nvfp4.config = *QuantConfig::forScheme(Scheme::NVFP4);
  nvfp4.config.threads = options.config.threads;
  nvfp4.config.rule = options.config.rule == Rule::Default
                          ? Rule::CompressedTensors
                          : options.config.rule;
  if (options.config.swizzleScales)
    fail("compressed-tensors checkpoints store linear scales; drop "
         "--scale-layout swizzled");
  compilePatterns(options.includes);
  compilePatterns(options.excludes);
  std::string error;
  auto reader = SafeTensorsReader::open(input, error);
  if (!reader)
    fail(error);
  std::vector<OutputTensor> outputs;
  size_t before = 0, after = 0;
  int quantized = 0;
  for (const TensorInfo &info : reader->tensors()) {
    NdArray array;
    if (!reader->read(info, array, error))
      fail(error);
    before += array.bytes.size();
    if (!selected(options, info)) {
      outputs.push_back({info.name, info.dtype, info.shape, std::move(array.bytes)});
      after += outputs.back().bytes.size();
      continue;
    }
    QuantizedTensor q = quantizeArray(viewOf(array), input + ": " + info.name,
                                      nvfp4, /*axis=*/1);
    std::string base = info.name.substr(0, info.name.size() - 7); // ".weight"
    int64_t n = info.shape[0], k = info.shape[1];
    outputs.push_back({base + ".weight_packed", "U8", {n, k / 2}, q.data});
    outputs.push_back({base + ".weight_scale", "F8_E4M3", {n, k / 16}, q.scales});
    std::vector<uint8_t> global(4);
    std::memcpy(global.data(), &q.globalScaleStored, 4);
    outputs.push_back({base + ".weight_global_scale", "F32", {1}, global});
    after += q.data.size() + q.scales.size() + 4;
    ++quantized;
    if (!options.quiet)
      std::printf("  %s %s -> nvfp4\n", info.name.c_str(),
                  shapeString(info.shape).c_str());
  }
  std::map<std::string, std::string> metadata = reader->metadata();
  metadata["format"] = metadata.count("format") ? metadata["format"] : "pt";
  metadata["quantization_format"] = "nvfp4-pack-quantized";
  if (!writeSafeTensors(options.output, outputs, metadata, error))
    fail(error);
  if (!options.quiet)
    std::printf("%s -> %s: %d tensors quantized, %s -> %s\n", input.c_str(),
                options.output.c_str(), quantized, bytesString(before).c_str(),
                bytesString(after).c_str());
  return 0;
}

/// Decodes one compressed-tensors NVFP4 weight into float32 values.
std::vector<float> decodeCheckpointWeight(const SafeTensorsReader &reader,
                                          const std::string &base,
                                          std::vector<int64_t> &shape) {
  std::string error;
  const TensorInfo *packed = reader.find(base + ".weight_packed");
  const TensorInfo *scale = reader.find(base + ".weight_scale");
  const TensorInfo *global = reader.find(base + ".weight_global_scale");
  if (!scale || !global)
    fail(base + ": weight_packed without weight_scale and weight_global_scale");
  if (packed->shape.size() != 2 || packed->dtype != "U8")
    fail(base + ".weight_packed: expected a 2-D U8 tensor");
  int64_t n = packed->shape[0], k = packed->shape[1] * 2;
  if (scale->shape != std::vector<int64_t>{n, k / 16} || scale->dtype != "F8_E4M3")
    fail(base + ".weight_scale: expected F8_E4M3 " + shapeString({n, k / 16}));
  if (global->dtype != "F32" || (global->end - global->begin) != 4)
    fail(base + ".weight_global_scale: expected one F32");
  NdArray p, s, g;
  if (!reader.read(*packed, p, error) || !reader.read(*scale, s, error) ||
      !reader.read(*global, g, error))
    fail(error);
  QuantizedTensor q;
  q.config = *QuantConfig::forScheme(Scheme::NVFP4);
  q.config.rule = Rule::CompressedTensors;
  q.rows = n;
  q.cols = k;
  q.scaleRows = n;
  q.scaleCols = k / 16;
  q.data = p.bytes;
  q.scales = s.bytes;
  q.globalScaleStored = g.data<float>()[0];
  q.globalScale = 1.0f / q.globalScaleStored;
  shape = {n, k};
  std::vector<float> values(n * k);
  dequantize(q, values.data());
  return values;
}

int dequantizeCheckpoint(const Options &options) {
  std::string error;
  auto reader = SafeTensorsReader::open(options.inputs[0], error);
  if (!reader)
    fail(error);
  std::vector<OutputTensor> outputs;
  int restored = 0;
  for (const TensorInfo &info : reader->tensors()) {
    if (endsWith(info.name, ".weight_scale") ||
        endsWith(info.name, ".weight_global_scale"))
      continue;
    if (endsWith(info.name, ".weight_packed")) {
      std::string base = info.name.substr(0, info.name.size() - 14);
      std::vector<int64_t> shape;
      std::vector<float> values = decodeCheckpointWeight(*reader, base, shape);
      NdArray array = floatArray(values, shape, options.bf16Output);
      outputs.push_back({base + ".weight", safetensorsDType(array.dtype), shape,
                         std::move(array.bytes)});
      ++restored;
      continue;
    }
    NdArray array;
    if (!reader->read(info, array, error))
      fail(error);
    outputs.push_back({info.name, info.dtype, info.shape, std::move(array.bytes)});
  }
  std::map<std::string, std::string> metadata = reader->metadata();
  metadata.erase("quantization_format");
  if (!writeSafeTensors(options.output, outputs, metadata, error))
    fail(error);
  if (!options.quiet)
    std::printf("%s -> %s: %d tensors dequantized\n", options.inputs[0].c_str(),
                options.output.c_str(), restored);
  return 0;
}

//===----------------------------------------------------------------------===//
// inspect
//===----------------------------------------------------------------------===//

void printRow(const std::string &name, const std::vector<int64_t> &shape,
              const std::string &format, const ErrorStats *stats,
              size_t before, size_t after) {
  char sqnr[32] = "-", maxErr[32] = "-";
  if (stats) {
    std::snprintf(sqnr, sizeof sqnr, "%.2f", stats->sqnrDb);
    std::snprintf(maxErr, sizeof maxErr, "%.4g", stats->maxAbsError);
  }
  std::printf("%-40s %-16s %-8s %9s %11s %11s %11s\n", name.c_str(),
              shapeString(shape).c_str(), format.c_str(), sqnr, maxErr,
              bytesString(before).c_str(), bytesString(after).c_str());
}

void printHeader() {
  std::printf("%-40s %-16s %-8s %9s %11s %11s %11s\n", "tensor", "shape",
              "format", "SQNR(dB)", "max|err|", "before", "after");
}

int inspect(const Options &options) {
  const std::string &input = options.inputs[0];
  if (isDirectory(input)) {
    std::vector<int64_t> shape;
    int64_t axis;
    QuantizedTensor q = readQuantizedDir(input, shape, axis);
    printHeader();
    size_t logical = static_cast<size_t>(q.rows * q.cols);
    printRow(input, shape, std::string(name(q.config.scheme)), nullptr,
             logical * 2, storedBytes(q));
    std::printf("(before: as bfloat16; run inspect on the original .npy with "
                "--format for SQNR)\n");
    return 0;
  }
  if (!options.scheme)
    fail("inspect " + input + " expects --format to quantize with");
  auto report = [&](const std::string &name, const ArrayView &array) {
    int64_t axis = normalizeAxis(options, array.shape.size(), name);
    QuantizedTensor q = quantizeArray(array, name, options, axis);
    std::vector<float> values(q.rows * q.cols);
    dequantize(q, values.data());
    values = moveLastAxisBack(values, array.shape, axis);
    ErrorStats stats = measure(array, values);
    printRow(name, array.shape, std::string(numerics::name(q.config.scheme)),
             &stats, array.size, storedBytes(q));
  };
  std::string error;
  if (endsWith(input, ".safetensors")) {
    compilePatterns(options.includes);
  compilePatterns(options.excludes);
    auto reader = SafeTensorsReader::open(input, error);
    if (!reader)
      fail(error);
    printHeader();
    for (const TensorInfo &info : reader->tensors()) {
      if (!selected(options, info))
        continue;
      NdArray array;
      if (!reader->read(info, array, error))
        fail(error);
      report(info.name, viewOf(array));
    }
    return 0;
  }
  std::unique_ptr<MappedNpy> mapped = mapOrFail(input);
  if (mapped->shape.empty())
    fail(input + ": cannot quantize a scalar");
  printHeader();
  report(input, viewOf(*mapped));
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options options = parseArgs(argc, argv);
  const std::string &input = options.inputs[0];
  bool checkpoint = endsWith(input, ".safetensors");
  if (options.command == "quantize")
    return checkpoint ? quantizeCheckpoint(options) : quantizeNpy(options);
  if (options.command == "dequantize")
    return checkpoint ? dequantizeCheckpoint(options) : dequantizeDir(options);
  return inspect(options);
}
