"""The nn4mc analogue: a C code generator for trained NARX models, and a ctypes loader of the compiled code.

:func:`export_c` writes the weights as ``static const float`` arrays and a forward function
``void narx_forward(const float *in, float *out)`` (dense, GRU, tanh/relu/sigmoid, the input standardisation and
the residual output of :class:`~paperzoo.smart_composites.narx.NARX`). :class:`CModel` compiles it with gcc
(``-O2 -Wall -Werror``) into a temporary directory, loads it with ctypes and measures the object's flash bytes
(``text + data`` of ``size``); :func:`object_size` does the same for a cross compiler (a Cortex-M4F build).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch import nn

from paperzoo.smart_composites.narx import NARX, LastGRU

HOST_FLAGS = ("-O2", "-Wall", "-Werror")
CORTEX_M4F_FLAGS = ("-Os", "-Wall", "-Werror", "-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")


def _initializer(values: np.ndarray) -> str:
    if values.ndim == 1:
        return "{" + ", ".join(f"{float(v):.9e}f" for v in values) + "}"
    return "{" + ", ".join(_initializer(row) for row in values) + "}"


def _array(name: str, values: np.ndarray) -> str:
    """A ``static const float`` array holding ``values`` exactly (float32, 9 significant digits)."""
    values = np.asarray(values, dtype=np.float32)
    dims = "".join(f"[{d}]" for d in values.shape)
    return f"static const float {name}{dims} = {_initializer(values)};"


def _dense(i: int, layer: nn.Linear, src: str, arrays: list[str]) -> tuple[list[str], str]:
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    arrays += [_array(f"w{i}", w), _array(f"b{i}", b)]
    n_out, n_in = w.shape
    body = [
        f"    float h{i}[{n_out}];",
        f"    for (int o = 0; o < {n_out}; ++o) {{",
        f"        float acc = b{i}[o];",
        f"        for (int j = 0; j < {n_in}; ++j) acc += w{i}[o][j] * {src}[j];",
        f"        h{i}[o] = acc;",
        "    }",
    ]
    return body, f"h{i}"


def _gru(i: int, layer: LastGRU, src: str, arrays: list[str]) -> tuple[list[str], str]:
    g = layer.gru
    hid, feat, steps, n_y = g.hidden_size, g.input_size, layer.steps, layer.n_y
    for part in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        arrays.append(_array(f"g{i}_{part.split('_')[0][0]}{part.split('_')[1]}", getattr(g, part).detach().numpy()))
    # arrays: g{i}_wih (3H, F), g{i}_whh (3H, H), g{i}_bih (3H), g{i}_bhh (3H); gate rows r, z, n (PyTorch order)
    body = [
        f"    float h{i}[{hid}] = {{0}};",
        f"    for (int t = 0; t < {steps}; ++t) {{",
        f"        const int lag = {steps} - 1 - t;",
        f"        float x[{feat}];",
        f"        x[0] = {src}[lag];",
        f"        for (int j = 0; j < {n_y}; ++j) x[1 + j] = {src}[{steps} + lag * {n_y} + j];",
        f"        float gi[{3 * hid}], gh[{3 * hid}], hn[{hid}];",
        f"        for (int o = 0; o < {3 * hid}; ++o) {{",
        f"            float a = g{i}_bih[o], c = g{i}_bhh[o];",
        f"            for (int j = 0; j < {feat}; ++j) a += g{i}_wih[o][j] * x[j];",
        f"            for (int j = 0; j < {hid}; ++j) c += g{i}_whh[o][j] * h{i}[j];",
        "            gi[o] = a;",
        "            gh[o] = c;",
        "        }",
        f"        for (int o = 0; o < {hid}; ++o) {{",
        "            const float r = 1.0f / (1.0f + expf(-(gi[o] + gh[o])));",
        f"            const float z = 1.0f / (1.0f + expf(-(gi[{hid} + o] + gh[{hid} + o])));",
        f"            const float n = tanhf(gi[{2 * hid} + o] + r * gh[{2 * hid} + o]);",
        f"            hn[o] = (1.0f - z) * n + z * h{i}[o];",
        "        }",
        f"        for (int o = 0; o < {hid}; ++o) h{i}[o] = hn[o];",
        "    }",
    ]
    return body, f"h{i}"


_ACTIVATIONS = {nn.Tanh: "tanhf({x})", nn.ReLU: "({x} > 0.0f ? {x} : 0.0f)", nn.Sigmoid: "1.0f / (1.0f + expf(-{x}))"}


def export_c(model: NARX) -> str:
    """C source of ``model``'s forward pass: ``narx_forward(in, out)`` and ``narx_forward_batch(in, out, n)``.

    ``in`` is the raw NARX regressor (``model.n_inputs`` floats), ``out`` the prediction (``model.n_y``).
    ``ValueError`` (naming ``model``) for a model that is not a :class:`NARX` or holds a layer it cannot emit.
    """
    if not isinstance(model, NARX):
        raise ValueError(f"model must be a NARX, got {type(model).__name__}")
    arrays = [
        _array("in_mean", model.in_mean.numpy()),
        _array("in_std", model.in_std.numpy()),
        _array("out_scale", model.out_scale.numpy()),
    ]
    n_in, n_y, d_u = model.n_inputs, model.n_y, model.d_u
    body = [f"    float z[{n_in}];", f"    for (int j = 0; j < {n_in}; ++j) z[j] = (in[j] - in_mean[j]) / in_std[j];"]
    src, width = "z", n_in
    for i, layer in enumerate(model.core):
        if isinstance(layer, nn.Linear):
            lines, src = _dense(i, layer, src, arrays)
            width = layer.out_features
        elif isinstance(layer, LastGRU):
            lines, src = _gru(i, layer, src, arrays)
            width = layer.gru.hidden_size
        elif type(layer) in _ACTIVATIONS:
            expr = _ACTIVATIONS[type(layer)].format(x=f"{src}[j]")
            lines = [f"    for (int j = 0; j < {width}; ++j) {src}[j] = {expr};"]
        else:
            raise ValueError(f"model holds a layer export_c cannot emit: {type(layer).__name__}")
        body += lines
    body.append(f"    for (int j = 0; j < {n_y}; ++j) out[j] = in[{d_u} + j] + out_scale[j] * {src}[j];")
    return "\n".join(
        [
            "/* Generated by paperzoo.smart_composites.codegen_c: a NARX forward model. */",
            "#include <math.h>",
            "",
            *arrays,
            "",
            "void narx_forward(const float *in, float *out);",
            "void narx_forward_batch(const float *in, float *out, int n);",
            "",
            "void narx_forward(const float *in, float *out) {",
            *body,
            "}",
            "",
            "void narx_forward_batch(const float *in, float *out, int n) {",
            f"    for (int i = 0; i < n; ++i) narx_forward(in + i * {n_in}, out + i * {n_y});",
            "}",
            "",
        ]
    )


def _compile(cc: str, source: Path, target: Path, flags: tuple[str, ...], extra: tuple[str, ...]) -> None:
    cmd = [cc, *flags, *extra, str(source), "-o", str(target)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")


def _flash_bytes(obj: Path, size_tool: str = "size") -> int:
    """``text + data`` of an object file (Berkeley format of binutils' ``size``)."""
    out = subprocess.run([size_tool, str(obj)], capture_output=True, text=True, check=True).stdout.splitlines()
    text, data = out[1].split()[:2]
    return int(text) + int(data)


def object_size(source: str, cc: str, flags: tuple[str, ...] = CORTEX_M4F_FLAGS) -> int | None:
    """Flash bytes of ``source`` compiled to an object by ``cc`` (e.g. ``arm-none-eabi-gcc``); None if absent."""
    if shutil.which(cc) is None:
        return None
    size_tool = cc[: -len("gcc")] + "size" if cc.endswith("gcc") else "size"
    with tempfile.TemporaryDirectory(prefix="smart-composites-c-") as tmp:
        src, obj = Path(tmp) / "narx.c", Path(tmp) / "narx.o"
        src.write_text(source)
        _compile(cc, src, obj, flags, ("-c",))
        return _flash_bytes(obj, size_tool if shutil.which(size_tool) else "size")


class CModel:
    """The generated C of a :class:`NARX` compiled by ``cc`` into a temporary directory and loaded with ctypes.

    ``model(x)`` evaluates regressors ``(n, n_inputs)`` in C (float32) and returns ``(n, n_y)`` float64;
    ``size_bytes`` is the object file's flash bytes (``text + data``); ``source`` the generated C.
    """

    def __init__(self, model: NARX, cc: str = "gcc", flags: tuple[str, ...] = HOST_FLAGS) -> None:
        self.source = export_c(model)
        self.n_inputs, self.n_y = model.n_inputs, model.n_y
        self._dir = Path(tempfile.mkdtemp(prefix="smart-composites-c-"))
        weakref.finalize(self, shutil.rmtree, self._dir, True)
        src = self._dir / "narx.c"
        src.write_text(self.source)
        _compile(cc, src, self._dir / "narx.o", flags, ("-c",))
        self.size_bytes = _flash_bytes(self._dir / "narx.o")
        _compile(cc, src, self._dir / "narx.so", flags, ("-shared", "-fPIC", "-lm"))
        lib = ctypes.CDLL(str(self._dir / "narx.so"))
        ptr = np.ctypeslib.ndpointer(dtype=np.float32, flags="C_CONTIGUOUS")
        # raw addresses for the per-call path (an ndpointer argtype re-validates the array on every call: ~15 us)
        lib.narx_forward.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.narx_forward_batch.argtypes = [ptr, ptr, ctypes.c_int]
        self._lib = lib

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1, self.n_inputs))
        out = np.empty((len(x), self.n_y), dtype=np.float32)
        self._lib.narx_forward_batch(x, out, len(x))
        return out.astype(np.float64)

    def forward_one(self, x: np.ndarray, out: np.ndarray) -> None:
        """One call of ``narx_forward`` on float32 C-contiguous buffers: ``x`` holds one regressor, ``out`` receives
        the ``n_y`` outputs; ``ValueError`` on another dtype, layout or size (the C function reads and writes raw
        memory)."""
        self.bind(x, out)()

    def bind(self, x: np.ndarray, out: np.ndarray) -> Callable[[], None]:
        """``narx_forward`` bound to fixed buffers, as a control loop on a microcontroller calls it (static input and
        output arrays): the buffers are checked once (as :meth:`forward_one`) and each call of the returned function
        runs the C forward on their current contents (the per-call latency measured in perf)."""
        for name, arr, size in (("x", x, self.n_inputs), ("out", out, self.n_y)):
            if arr.dtype != np.float32 or not arr.flags.c_contiguous or arr.size != size:
                raise ValueError(f"{name} must be a C-contiguous float32 array of {size} values")
        if not out.flags.writeable:
            raise ValueError("out must be writeable")

        def call(forward=self._lib.narx_forward, x_ptr=x.ctypes.data, out_ptr=out.ctypes.data, _keep=(x, out)) -> None:
            forward(x_ptr, out_ptr)  # _keep holds the buffers alive, so their addresses stay valid

        return call
