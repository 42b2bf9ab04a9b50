"""A differentiable ONNX evaluator: runs an ONNX graph with torch operations, so an attack can take
gradients through a model the user exported to ONNX (ultralytics YOLO exports, classifiers).

Supports the operators such exports use (convolutions, activations, arithmetic, shape plumbing,
pooling, resize, softmax, batch norm, matmul). An operator outside that set is reported by name when
the model is loaded; onnxruntime can still evaluate such a model, without gradients. Initialisers
become buffers (the model's weights are never trained here)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from patchsim.errors import PatchsimError
from patchsim.checks import missing_file

_DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 6: torch.int32, 7: torch.int64, 9: torch.bool,
           10: torch.float16, 11: torch.float64}


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _ints(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


def _pads(a: dict, nd: int) -> list[int]:
    p = list(a.get("pads", [0] * 2 * nd))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise PatchsimError(f"ONNX auto_pad {a['auto_pad']!r} is not supported; export with explicit pads")
    return p


def _conv(x, w, b=None, a=None):
    nd = w.dim() - 2
    p = _pads(a, nd)
    if any(p[i] != p[i + nd] for i in range(nd)):
        x = F.pad(x, [v for i in reversed(range(nd)) for v in (p[i], p[i + nd])])
        p = [0] * (2 * nd)
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    return conv(x, w, b, a.get("strides", [1] * nd), p[:nd], a.get("dilations", [1] * nd), a.get("group", 1))


def _pool(kind):
    def run(x, a):
        k = a["kernel_shape"]
        nd = len(k)
        p = _pads(a, nd)
        s = a.get("strides", [1] * nd)
        if any(p[i] != p[i + nd] for i in range(nd)):
            x = F.pad(x, [v for i in reversed(range(nd)) for v in (p[i], p[i + nd])],
                      value=float("-inf") if kind == "max" else 0.0)
            p = [0] * (2 * nd)
        if kind == "max":
            return F.max_pool2d(x, k, s, p[:nd], ceil_mode=bool(a.get("ceil_mode", 0)))
        return F.avg_pool2d(x, k, s, p[:nd], ceil_mode=bool(a.get("ceil_mode", 0)),
                            count_include_pad=bool(a.get("count_include_pad", 0)))
    return run


def _slice(x, starts, ends, axes=None, steps=None, a=None):
    axes = _ints(axes) if axes is not None else list(range(len(_ints(starts))))
    steps = _ints(steps) if steps is not None else [1] * len(axes)
    idx = [slice(None)] * x.dim()
    for ax, st, en, sp in zip(axes, _ints(starts), _ints(ends), steps):
        if sp < 0:
            raise PatchsimError("ONNX Slice with negative steps is not supported")
        n = x.shape[ax]
        st = max(0, min(n, st + n if st < 0 else st))
        en = max(0, min(n, en + n if en < 0 else en))
        idx[ax] = slice(st, en, sp)
    return x[tuple(idx)]


def _split(x, split=None, a=None, n_out=1):
    ax = a.get("axis", 0)
    sizes = _ints(split) if split is not None else list(a.get("split", []))
    if not sizes:
        sizes = [x.shape[ax] // n_out] * n_out
    return tuple(torch.split(x, sizes, ax))


def _reshape(x, shape, a=None):
    s = _ints(shape)
    s = [x.shape[i] if v == 0 and not a.get("allowzero", 0) else v for i, v in enumerate(s)]
    return x.reshape(s)


def _resize(x, roi=None, scales=None, sizes=None, a=None):
    mode = a.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if sizes is not None and sizes.numel():
        size = _ints(sizes)[2:]
    elif scales is not None and scales.numel():
        sc = [float(v) for v in scales.reshape(-1).tolist()][2:]
        size = [int(np.floor(n * s)) for n, s in zip(x.shape[2:], sc)]
    else:
        raise PatchsimError("ONNX Resize needs scales or sizes")
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    ct = a.get("coordinate_transformation_mode", b"half_pixel")
    ct = ct.decode() if isinstance(ct, bytes) else ct
    return F.interpolate(x, size=size, mode="bilinear", align_corners=ct == "align_corners")


def _gemm(a_, b_, c=None, a=None):
    if a.get("transA", 0):
        a_ = a_.t()
    if a.get("transB", 0):
        b_ = b_.t()
    y = a.get("alpha", 1.0) * a_ @ b_
    return y + a.get("beta", 1.0) * c if c is not None else y


def _bn(x, scale, bias, mean, var, a=None):
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, a.get("epsilon", 1e-5))


def _softmax(x, a=None):
    return torch.softmax(x, a.get("axis", -1))


def _clip(x, lo=None, hi=None, a=None):
    lo = float(lo) if lo is not None else a.get("min", None)
    hi = float(hi) if hi is not None else a.get("max", None)
    return x.clamp(lo, hi)


def _squeeze(x, axes=None, a=None):
    ax = _ints(axes) if axes is not None else list(a.get("axes", []))
    if not ax:
        return x.squeeze()
    for d in sorted((v % x.dim() for v in ax), reverse=True):
        x = x.squeeze(d)
    return x


def _unsqueeze(x, axes=None, a=None):
    ax = _ints(axes) if axes is not None else list(a["axes"])
    n = x.dim() + len(ax)
    for d in sorted(v % n for v in ax):
        x = x.unsqueeze(d)
    return x


def _reduce(fn):
    def run(x, axes=None, a=None):
        ax = _ints(axes) if axes is not None else list(a.get("axes", range(x.dim())))
        return fn(x, dim=ax, keepdim=bool(a.get("keepdims", 1)))
    return run


def _constant(a=None):
    from onnx import numpy_helper

    if "value" in a:
        return torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
    for k in ("value_float", "value_int"):
        if k in a:
            return torch.tensor(a[k])
    for k in ("value_floats", "value_ints"):
        if k in a:
            return torch.tensor(list(a[k]))
    raise PatchsimError(f"ONNX Constant with attributes {sorted(a)} is not supported")


def _binary(fn):
    def run(x, y, a=None):
        if x.dtype != y.dtype and x.is_floating_point() != y.is_floating_point():
            y = y.to(x.dtype) if x.is_floating_point() else y
            x = x.to(y.dtype)
        return fn(x, y)
    return run


def _div(x, y):
    if not x.is_floating_point() and not y.is_floating_point():
        return torch.div(x, y, rounding_mode="trunc")
    return x / y


OPS: dict[str, Callable] = {
    "Conv": lambda x, w, b=None, a=None: _conv(x, w, b, a),
    "Relu": lambda x, a=None: F.relu(x), "Sigmoid": lambda x, a=None: torch.sigmoid(x),
    "Tanh": lambda x, a=None: torch.tanh(x), "Exp": lambda x, a=None: x.exp(), "Log": lambda x, a=None: x.log(),
    "Sqrt": lambda x, a=None: x.sqrt(), "Neg": lambda x, a=None: -x, "Abs": lambda x, a=None: x.abs(),
    "Erf": lambda x, a=None: torch.erf(x), "Floor": lambda x, a=None: x.floor(), "Ceil": lambda x, a=None: x.ceil(),
    "LeakyRelu": lambda x, a=None: F.leaky_relu(x, a.get("alpha", 0.01)),
    "HardSigmoid": lambda x, a=None: (a.get("alpha", 0.2) * x + a.get("beta", 0.5)).clamp(0, 1),
    "HardSwish": lambda x, a=None: F.hardswish(x), "Mish": lambda x, a=None: F.mish(x),
    "Softplus": lambda x, a=None: F.softplus(x),
    "Add": _binary(torch.add), "Sub": _binary(torch.sub), "Mul": _binary(torch.mul), "Div": _binary(_div),
    "Pow": lambda x, y, a=None: x.pow(y), "MatMul": lambda x, y, a=None: x @ y,
    "Max": lambda *xs, a=None: torch.stack(torch.broadcast_tensors(*xs)).amax(0),
    "Min": lambda *xs, a=None: torch.stack(torch.broadcast_tensors(*xs)).amin(0),
    "Equal": lambda x, y, a=None: x == y, "Less": lambda x, y, a=None: x < y, "Greater": lambda x, y, a=None: x > y,
    "Where": lambda c, x, y, a=None: torch.where(c.bool(), x, y), "Not": lambda x, a=None: ~x,
    "Gemm": _gemm, "BatchNormalization": _bn, "Softmax": _softmax, "Clip": _clip,
    "Concat": lambda *xs, a=None: torch.cat(xs, a["axis"]),
    "Split": _split, "Slice": _slice, "Reshape": _reshape, "Resize": _resize,
    "Upsample": lambda x, scales, a=None: _resize(x, None, scales, None, a),
    "Transpose": lambda x, a=None: x.permute(*(a.get("perm") or range(x.dim() - 1, -1, -1))),
    "Flatten": lambda x, a=None: x.reshape(int(np.prod(x.shape[:a.get("axis", 1)])), -1),
    "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Identity": lambda x, a=None: x,
    "Shape": lambda x, a=None: torch.tensor(list(x.shape), dtype=torch.int64),
    "Gather": lambda x, i, a=None: torch.index_select(x, a.get("axis", 0), i.reshape(-1) % x.shape[a.get("axis", 0)]).reshape(
        x.shape[:a.get("axis", 0) % x.dim()] + i.shape + x.shape[a.get("axis", 0) % x.dim() + 1:]),
    "Cast": lambda x, a=None: x.to(_DTYPES[a["to"]]),
    "Constant": _constant,
    "ConstantOfShape": lambda s, a=None: torch.full(_ints(s), float(_constant({"value": a["value"]}).reshape(-1)[0])
                                                     if "value" in a else 0.0),
    "Expand": lambda x, s, a=None: x * torch.ones(_ints(s), dtype=x.dtype),
    "Range": lambda s, e, d, a=None: torch.arange(s.item(), e.item(), d.item(), dtype=s.dtype),
    "Tile": lambda x, r, a=None: x.repeat(*_ints(r)),
    "MaxPool": _pool("max"), "AveragePool": _pool("avg"),
    "GlobalAveragePool": lambda x, a=None: x.mean(dim=tuple(range(2, x.dim())), keepdim=True),
    "GlobalMaxPool": lambda x, a=None: x.amax(dim=tuple(range(2, x.dim())), keepdim=True),
    "ReduceMean": _reduce(torch.mean), "ReduceSum": _reduce(torch.sum), "ReduceMax": _reduce(torch.amax),
    "ReduceMin": _reduce(torch.amin),
}


class OnnxTorch(nn.Module):
    """An ONNX model (single image input, first output returned) evaluated with torch operations; see
    the module docstring. ``path`` is checked when constructed: unreadable files and unsupported
    operators are one-line errors."""

    def __init__(self, path: str | Path):
        super().__init__()
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError as e:
            raise PatchsimError("ONNX models need the onnx package: pip install 'patchsim[onnx]'") from e
        p = Path(path)
        if not p.is_file():
            raise missing_file(p, "model file")
        try:
            model = onnx.load(str(p))
        except Exception as e:  # noqa: BLE001 - any decode failure, reported with the file
            raise PatchsimError(f"{p} is not a loadable ONNX model: {type(e).__name__}: {e}") from e
        g = model.graph
        unsupported = sorted({n.op_type for n in g.node if n.op_type not in OPS or n.domain not in ("", "ai.onnx")})
        if unsupported:
            raise PatchsimError(f"{p.name}: ONNX operators {', '.join(unsupported)} cannot be differentiated by patchsim; "
                                "export the model as TorchScript for attacks")
        self._names: dict[str, str] = {}
        for i, init in enumerate(g.initializer):
            key = f"w{i}"
            self.register_buffer(key, torch.from_numpy(numpy_helper.to_array(init).copy()))
            self._names[init.name] = key
        inits = set(self._names)
        inputs = [i.name for i in g.input if i.name not in inits]
        if len(inputs) != 1:
            raise PatchsimError(f"{p.name}: expected one image input, the graph has {len(inputs)} ({', '.join(inputs)})")
        self.input_name = inputs[0]
        self.output_name = g.output[0].name
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in g.node]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor | None] = {"": None, self.input_name: x}
        for name, key in self._names.items():
            env[name] = getattr(self, key)
        for op, ins, outs, a in self.nodes:
            args = [env[i] for i in ins]
            while args and args[-1] is None:
                args.pop()
            try:
                if op == "Split":
                    res = _split(*args, a=a, n_out=len(outs))
                else:
                    res = OPS[op](*args, a=a)
            except PatchsimError:
                raise
            except Exception as e:  # noqa: BLE001 - name the failing node
                raise PatchsimError(f"ONNX node {op} ({', '.join(outs)}) failed: {type(e).__name__}: {e}") from e
            if isinstance(res, tuple):
                env.update(zip(outs, res))
            else:
                env[outs[0]] = res
        return env[self.output_name]
