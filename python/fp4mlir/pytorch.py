"""The PyTorch front end: an nn.Module to an fp4mlir Module.

    module = fp4mlir.pytorch.export(model, (x,))
    fp4mlir.quantize_model(module, preset="moe-fp4-fp8")

The model is exported by torch-mlir (`torch_mlir.fx.export_and_import`,
linalg-on-tensors) when torch-mlir is installed. torch-mlir names its weight
blobs after their shapes; export renames each after the parameter or buffer
holding the same bytes and marks its arith.constant with
`fp4.param_name`, so that name-pattern policies (`mlp.experts.*`) see the
model's own names.
"""

import re

from ._core import Error, Module

_RESOURCE = re.compile(r'^(\s*)("?)([^":\s]+)\2:\s*"0x([0-9A-Fa-f]*)"(,?)\s*$')


def name_parameters(text, named_tensors):
    """Names the dense_resource blobs of `text` after the tensors of
    `named_tensors` ({name: bytes}) holding the same bytes: every
    arith.constant holding one gets `fp4.param_name = "<name>"`, and the blob
    is renamed to the name where that is a bare MLIR identifier (not
    "0.weight"). Blobs that match no tensor, or several, are left alone.
    Returns (text, {blob key: parameter name})."""
    by_bytes = {}
    ambiguous = set()
    for name, data in named_tensors.items():
        if data in by_bytes:
            ambiguous.add(data)
        by_bytes[data] = name
    body, sep, resources = text.partition("{-#")
    if not sep:
        return text, {}
    names = {}  # blob key -> parameter name
    keys = {}   # blob key -> the key it gets
    lines = []
    for line in resources.splitlines():
        match = _RESOURCE.match(line)
        if match:
            indent, _, key, hexdata, comma = match.groups()
            # Blobs start with their 4-byte alignment (0x04000000 for f32).
            data = bytes.fromhex(hexdata[8:])
            name = by_bytes.get(data)
            if name and data not in ambiguous:
                names[key] = name
                if re.fullmatch(r"[A-Za-z_][\w.$]*", name):
                    keys[key] = name
                    line = f'{indent}{name}: "0x{hexdata}"{comma}'
        lines.append(line)
    resources = "\n".join(lines) + ("\n" if resources.endswith("\n") else "")

    def constant(match):
        key = match.group(1)
        if key not in names:
            return match.group(0)
        return f'= arith.constant {{fp4.param_name = "{names[key]}"}} dense_resource<{key}>'

    # Mark the constants, then rename the blobs wherever they are used.
    body = re.sub(r"= arith\.constant dense_resource<([^>]+)>", constant, body)
    body = re.sub(r"dense_resource<([^>]+)>",
                  lambda m: f"dense_resource<{keys.get(m.group(1), m.group(1))}>", body)
    return body + sep + resources, names


def export(model, example_inputs, *, func_name="forward"):
    """Exports `model` (a torch.nn.Module) on `example_inputs` (a tuple of
    tensors) through torch-mlir into a Module with parameter names attached.
    Raises ImportError when torch or torch-mlir is not installed."""
    try:
        import torch
        from torch_mlir import fx
    except ImportError as e:
        raise ImportError(
            "fp4mlir.pytorch.export needs torch and torch-mlir "
            "(pip install torch-mlir; see docs/python.md)") from e
    model.eval()
    with torch.no_grad():
        exported = fx.export_and_import(model, *example_inputs,
                                        output_type="linalg-on-tensors",
                                        func_name=func_name)
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    # Raw bytes of any dtype (bf16 and fp8 have no numpy type).
    named = {n: t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
             for n, t in tensors.items()}
    text, _ = name_parameters(str(exported), named)
    try:
        return Module.parse(text, f"<torch-mlir export of {type(model).__name__}>")
    except Error as e:  # pragma: no cover - torch-mlir printed invalid IR
        raise Error(f"torch-mlir's output does not parse: {e}") from e
