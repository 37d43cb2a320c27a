"""The uniform command line of every paper: ``python -m paperzoo.<module> [options]``.

Runs the requested seeds of one scale, shows progress on stderr, writes one record per seed and a
summary (atomically) under ``OUT/<slug>/<scale>/``, draws the paper's plots there, and prints the results
table and the claim verdicts on stdout. ``--perf`` runs the paper's speed figures instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from paperzoo.shared.benchmark import SCALES, Benchmark
from paperzoo.shared.measure import measure
from paperzoo.shared.progress import set_quiet
from paperzoo.shared.records import (
    SCHEMA_VERSION,
    git_info,
    machine_info,
    package_versions,
    seed_record_path,
    summary_path,
    utc_now,
    write_json_atomic,
)
from paperzoo.shared.report import format_claims, format_metrics_table, format_number, format_table
from paperzoo.shared.runtime import THREAD_LIMITS, apply_run_environment, configure_framework, jax_backend_started
from paperzoo.shared.seeding import seed_everything

log = logging.getLogger("paperzoo")
# Set to "1" by `paperzoo bench --scale full --allow-dirty`: the records say the tree was dirty on purpose.
DIRTY_OVERRIDE = "PAPERZOO_DIRTY_OVERRIDE"


def cuda_available(framework: str) -> bool:
    """Whether ``framework`` (imported here, on demand) sees a CUDA GPU."""
    if framework == "torch":
        return importlib.import_module("torch").cuda.is_available()
    if framework == "jax":
        return any(d.platform == "gpu" for d in importlib.import_module("jax").devices())
    return bool(importlib.import_module("tensorflow").config.list_physical_devices("GPU"))


class UsageError(Exception):
    """A command-line argument that cannot work: one line on stderr, exit code 2, before any compute."""


def resolve_device(framework: str, requested: str) -> str:
    """``auto`` -> ``cuda`` when the framework sees a GPU, else ``cpu``; ``cuda`` without one is a usage error."""
    if requested == "cpu":
        return "cpu"
    has_cuda = cuda_available(framework)
    if requested == "cuda" and not has_cuda:
        raise UsageError("--device cuda was requested but no CUDA device is visible")
    return "cuda" if has_cuda else "cpu"


def check_seeds(seeds: list[int]) -> list[int]:
    """Seeds are distinct integers >= 0 (a repeated seed would be counted twice in the means)."""
    bad = [s for s in seeds if s < 0]
    if bad:
        raise UsageError(f"--seeds must be integers >= 0, got {bad}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise UsageError(f"--seeds repeats {repeated}: each seed runs once")
    return seeds


def prepare_out(folder: Path) -> Path:
    """Create ``folder`` and prove it writable now (not after the run); remove temporary files a killed run left."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UsageError(f"--out: cannot write to {folder}: {err.strerror or err}") from None
    for leftover in folder.glob(".*.json.*.tmp"):  # write_json_atomic's temporary files, from a killed run
        leftover.unlink(missing_ok=True)
    return folder


def build_parser(benchmark: Benchmark) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m paperzoo.{benchmark.slug.replace('-', '_')}",
        description=f"{benchmark.title}: run the paperzoo benchmark of '{benchmark.slug}'.",
    )
    parser.add_argument(
        "--scale",
        choices=SCALES,
        default="full",
        help="smoke: seconds, CI; full: the CPU-scale reproduction; paper: the paper's setting",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds to run (default: the scale's seeds)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="output folder (default: runs)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--allow-download",
        action="store_true",
        help="let the paper scale download its data/models and run without a GPU",
    )
    parser.add_argument("--perf", action="store_true", help="run the speed figures instead of a scale")
    return parser


def run_scale(benchmark: Benchmark, scale: str, seeds: list[int], out: Path, device: str) -> dict[str, Any]:
    """Run ``seeds`` of ``scale``, write their records and the summary; return the summary."""
    config = dataclasses.replace(benchmark.scales[scale], device=device)
    runner = benchmark.run[scale]
    commit = git_info(Path(sys.modules[runner.__module__].__file__).parent)
    if os.environ.get(DIRTY_OVERRIDE) == "1":
        commit["dirty_override"] = True
    records = []
    for seed in seeds:
        log.info("%s/%s: seed %d", benchmark.slug, scale, seed)
        started = utc_now()
        seed_everything(seed)
        with measure() as m:
            result = runner(config, seed)
        record = {
            "schema_version": SCHEMA_VERSION,
            "paper": benchmark.slug,
            "scale": scale,
            "seed": seed,
            "config": config,
            "metrics": result.metrics,
            "series": result.series,
            "wall_time_s": m.wall_time_s,
            "peak_memory_mib": m.peak_memory_mib,
            "packages": package_versions(),
            "machine": machine_info(),
            "git": commit,
            "started_utc": started,
        }
        write_json_atomic(seed_record_path(out, benchmark.slug, scale, seed), record)
        records.append(record)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "paper": benchmark.slug,
        "scale": scale,
        "seeds": seeds,
        "config": config,
        "wall_time_s": sum(r["wall_time_s"] for r in records),
        "git": commit,
        "finished_utc": utc_now(),
        **benchmark.summarize(scale, [r["metrics"] for r in records], config),
    }
    folder = summary_path(out, benchmark.slug, scale).parent
    plot = benchmark.plot.get(scale)
    summary["plots"] = [p.name for p in plot(config, records, folder)] if plot else []
    write_json_atomic(summary_path(out, benchmark.slug, scale), summary)
    return summary


def fix_run_environment(framework: str) -> None:
    """The run environment of :mod:`paperzoo.shared.runtime` for this process: one thread, deterministic kernels.

    Called before any compute, so that ``make paper-<slug>`` computes exactly as the harness and the tests do.
    JAX reads ``XLA_FLAGS`` when its backend starts: a paper whose import already started it would run with
    other settings, which is an error here rather than a silent difference.
    """
    unset = [name for name in THREAD_LIMITS if name not in os.environ]
    apply_run_environment()
    if unset and jax_backend_started():
        raise RuntimeError(f"JAX's backend started before the run environment was set ({', '.join(unset)} unset)")
    configure_framework(framework)


def main(benchmark: Benchmark, argv: list[str] | None = None) -> int:
    """Entry point of ``python -m paperzoo.<module>``.

    Every argument is validated before any compute (exit 2 with one line on stderr): seeds, the output
    folder (created and written to), the device, the paper scale's permission. The run environment
    (threads, deterministic kernels) is fixed first (:func:`fix_run_environment`).
    """
    fix_run_environment(benchmark.framework)
    args = build_parser(benchmark).parse_args(argv)
    try:
        return _main(benchmark, args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _main(benchmark: Benchmark, args: argparse.Namespace) -> int:
    set_quiet(args.quiet)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        stream=sys.stderr,
        format="%(name)s: %(message)s",
    )
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if args.scale == "paper" and not args.perf:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        if not args.allow_download and (offline or not cuda_available(benchmark.framework)):
            print(
                f"error: the paper scale needs {benchmark.paper_needs}; it downloads data and expects a GPU. "
                "Re-run with --allow-download to start it anyway.",
                file=sys.stderr,
            )
            return 2
    device = resolve_device(benchmark.framework, args.device)
    seeds = check_seeds(args.seeds if args.seeds is not None else list(benchmark.seeds[args.scale]))
    prepare_out(args.out / benchmark.slug if args.perf else summary_path(args.out, benchmark.slug, args.scale).parent)
    if args.perf:
        if benchmark.perf is None:
            print(f"error: {benchmark.slug} declares no perf entry", file=sys.stderr)
            return 2
        figures = benchmark.perf(device)
        write_json_atomic(
            args.out / benchmark.slug / "perf.json",
            {
                "paper": benchmark.slug,
                "device": device,
                "figures": figures,
                "packages": package_versions(),
                "started_utc": utc_now(),
            },
        )
        print(format_table(("figure", "value"), [(name, format_number(v)) for name, v in figures.items()]))
        return 0
    summary = run_scale(benchmark, args.scale, seeds, args.out, device)
    print(f"{benchmark.title} — {args.scale} scale, seeds {seeds}, device {device}")
    print(format_metrics_table(summary))
    print(format_claims(summary["claims"]))
    print(f"records: {summary_path(args.out, benchmark.slug, args.scale).parent}")
    return 0
