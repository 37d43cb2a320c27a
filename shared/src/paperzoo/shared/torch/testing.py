"""Helpers for the torch papers' tests: seeded parameters and gradients, a run's trajectory, tiny image folders
and image arrays.

Used by the optimizer papers' tests (and ``shared/tests``), so that each paper's test file holds only its checks.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

SHAPES: tuple[tuple[int, ...], ...] = ((3, 4), (5,))


def make_params(
    shapes: tuple[tuple[int, ...], ...] = SHAPES, seed: int = 0, dtype: torch.dtype = torch.float64
) -> list[torch.nn.Parameter]:
    """Standard-normal parameters of the given shapes (drawn in float64, then cast to ``dtype``)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)) for shape in shapes]


def make_grads(
    steps: int, shapes: tuple[tuple[int, ...], ...] = SHAPES, seed: int = 1, dtype: torch.dtype = torch.float64
) -> list[list[Tensor]]:
    """Random gradients, one list per step, with a scale that changes between steps (0.2, 2.2, 4.2, 0.2, …)."""
    gen = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(shape, generator=gen, dtype=torch.float64).mul(0.2 + 2.0 * (t % 3)).to(dtype) for shape in shapes]
        for t in range(steps)
    ]


def copy_params(params: list[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    """Independent copies of ``params`` (no gradients)."""
    return [torch.nn.Parameter(p.detach().clone()) for p in params]


def set_grads(params: list[torch.nn.Parameter], grads: list[Tensor | None]) -> None:
    """``p.grad`` = a copy of each gradient (None leaves the parameter without one)."""
    for param, grad in zip(params, grads, strict=True):
        param.grad = None if grad is None else grad.clone()


def run(
    optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], grads: list[list[Tensor]]
) -> list[list[Tensor]]:
    """Step through the gradient sequence; the parameter values after each step."""
    trajectory = []
    for step_grads in grads:
        set_grads(params, step_grads)
        optimizer.step()
        trajectory.append([p.detach().clone() for p in params])
    return trajectory


def group_trajectory(
    make_optimizer: Callable[[list[dict[str, Any]]], torch.optim.Optimizer],
    steps: int,
    dtype: torch.dtype = torch.float64,
) -> list[Tensor]:
    """Every parameter, gradient and tensor state after each step of a run that exercises the bookkeeping.

    Three parameters in two groups (the second group with lr 0.03; ``make_optimizer`` sets the rest), the
    second parameter without a gradient on odd steps (so its step count lags), and the first group's lr
    changed to 0.02 halfway. Two optimizers that agree on it agree bit for bit.
    """
    shapes = ((3, 4), (5,), (2, 3))
    params, grads = make_params(shapes, dtype=dtype), make_grads(steps, shapes, dtype=dtype)
    optimizer = make_optimizer([{"params": params[:2]}, {"params": params[2:], "lr": 0.03}])
    values = []
    for t, step_grads in enumerate(grads):
        set_grads(params, [step_grads[0], step_grads[1] if t % 2 == 0 else None, step_grads[2]])
        if t == steps // 2:
            optimizer.param_groups[0]["lr"] = 0.02
        optimizer.step()
        values += [p.detach().clone() for p in params]
        values += [p.grad.clone() for p in params if p.grad is not None]
        values += [v.clone() for p in params for v in optimizer.state[p].values() if isinstance(v, Tensor)]
    return values


def check_state_dict_round_trip(
    make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    params: list[torch.nn.Parameter],
    grads: list[list[Tensor]],
    split: int,
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Check that an optimizer resumed from its ``state_dict`` continues exactly as one never interrupted.

    Runs ``grads`` from copies of ``params`` uninterrupted; runs them again, stopping after ``split`` steps to
    save the ``state_dict`` (through ``torch.save``/``torch.load``) and load it into a fresh optimizer of
    copied parameters that runs the rest. Raises ``AssertionError`` unless both end bitwise equal.

    Returns:
        The interrupted optimizer (after ``split`` steps) and the resumed one (after all steps).
    """
    uninterrupted_params = copy_params(params)
    uninterrupted = run(make_optimizer(uninterrupted_params), uninterrupted_params, grads)[-1]
    first_params = copy_params(params)
    first = make_optimizer(first_params)
    run(first, first_params, grads[:split])
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed_params = copy_params(first_params)
    resumed = make_optimizer(resumed_params)
    resumed.load_state_dict(torch.load(buffer))
    continued = run(resumed, resumed_params, grads[split:])[-1]
    if not all(torch.equal(a, b) for a, b in zip(continued, uninterrupted, strict=True)):
        raise AssertionError(f"the optimizer resumed after {split} steps differs from the uninterrupted one")
    return first, resumed


def check_half_precision(
    make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    make_reference: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    dtype: torch.dtype,
    steps: int,
) -> None:
    """Check that float16/bfloat16 parameters keep float32 state and are updated in float32, then rounded.

    ``make_optimizer`` runs on ``dtype`` parameters, ``make_reference`` on float32 copies that are rounded to
    ``dtype`` after each step; after every step the parameters must be equal and every tensor state float32
    and equal, bit for bit. Raises ``AssertionError`` otherwise.
    """
    params = make_params(dtype=dtype)
    reference = [torch.nn.Parameter(p.detach().float()) for p in params]
    optimizer, reference_optimizer = make_optimizer(params), make_reference(reference)
    for t, step_grads in enumerate(make_grads(steps, dtype=dtype), start=1):
        set_grads(params, step_grads)
        set_grads(reference, [g.float() for g in step_grads])
        optimizer.step()
        reference_optimizer.step()
        for index, (param, ref) in enumerate(zip(params, reference, strict=True)):
            with torch.no_grad():
                ref.copy_(ref.to(dtype).float())
            if param.dtype != dtype or not torch.equal(param.detach().float(), ref.detach()):
                raise AssertionError(f"step {t}: parameter {index} differs from the rounded float32 run")
            for key, value in optimizer.state[param].items():
                if isinstance(value, Tensor) and (
                    value.dtype != torch.float32 or not torch.equal(value, reference_optimizer.state[ref][key])
                ):
                    raise AssertionError(f"step {t}: state {key!r} of parameter {index} is not the float32 run's")


def write_image_folder(root: Path, classes: int = 2, train: int = 4, val: int = 3, size: int = 32) -> Path:
    """A tiny ImageNet-style folder for the paper scales' start tests: ``root/{train,val}/class<c>/<i>.png``.

    Random RGB images whose mean colour depends on the class (learnable), from a fixed generator.
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", val)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 128, (size, size, 3)) + 100 * c
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    return root


def write_colour_images(
    path: Path, n_train: int = 48, n_test: int = 24, size: int = 8, classes: int = 3, seed: int = 0
) -> Path:
    """A tiny CIFAR-like ``.npz`` (uint8 ``x_train``/``x_test`` (N, size, size, 3), int ``y_train``/``y_test``)
    for the paper scales' start tests (:func:`paperzoo.shared.testbeds.classify.load_images`).

    Labels cycle through ``classes`` (at most 3); each image is noise whose class channel is bright: crop- and
    flip-invariant, so learnable under the standard augmentation.
    """
    if not 1 <= classes <= 3:
        raise ValueError(f"classes must be in [1, 3] (one colour channel per class), got {classes}")
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % classes
        images = rng.integers(0, 80, size=(n, size, size, 3))
        images[np.arange(n), :, :, labels] += 170
        return images.astype(np.uint8), labels

    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
