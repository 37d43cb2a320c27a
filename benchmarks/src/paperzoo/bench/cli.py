"""``paperzoo``: list, run, bench, compare, verify, baseline, report and scaffold papers.

Exit codes: 0 all good; 1 a regression, a failed smoke claim, a flipped full-scale verdict (``verify``: a
committed verdict this machine does not reproduce), or a paper
that crashed, hung or wrote invalid records (a malformed baseline or committed record is a FAIL naming
the file and the field; the other papers still run); 2 a usage error (an unknown slug lists the known
ones; no checkout; a bad --timeout); 128 + N when stopped by signal N (SIGINT 130, SIGTERM 143) after
the running paper's whole process tree was stopped.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from paperzoo.bench import compare, readme, runner, scaffold, verify
from paperzoo.bench.discovery import Paper, discover, repo_root
from paperzoo.shared.cli import DIRTY_OVERRIDE
from paperzoo.shared.records import (
    git_info,
    read_json,
    seed_record_path,
    summary_path,
    utc_now,
    validate_baseline,
    validate_summary,
    write_json_atomic,
)
from paperzoo.shared.report import format_table
from paperzoo.shared.runtime import EMULATED_ISA, apply_run_environment, emulate_isa

TIMEOUTS_S = {"smoke": 120.0, "full": 1800.0}


def positive_seconds(text: str) -> float:
    """argparse type of ``--timeout``: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


class UsageError(Exception):
    """A bad command line; exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paperzoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the installed papers")

    run = sub.add_parser("run", help="run one paper at one scale (output streamed)")
    run.add_argument("slug")
    run.add_argument("--scale", choices=("smoke", "full", "paper"), default="smoke")
    run.add_argument("--seeds", type=int, nargs="+")
    run.add_argument("--out", type=Path, default=Path("runs"))
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    run.add_argument("--timeout", type=positive_seconds, help="seconds (default: 120 smoke, 1800 full)")

    for name, helptext in (
        ("bench", "run papers and hold them to their records"),
        ("compare", "hold existing run records to their records, without running"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--scale", choices=("smoke", "full"), default="smoke")
        p.add_argument("--papers", nargs="+", help="slugs (default: all)")
        p.add_argument("--out", type=Path, help="records folder (default: runs/bench; full: benchmarks/results)")
        if name == "bench":
            p.add_argument("--timeout", type=positive_seconds, help="seconds per paper (default: 120 smoke, 1800 full)")
            p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
            p.add_argument(
                "--allow-dirty",
                action="store_true",
                help="record full-scale results from a tree with uncommitted changes (the records say so)",
            )

    base = sub.add_parser("baseline", help="run papers at smoke scale and write their baselines")
    base.add_argument("--papers", nargs="+", required=True)
    base.add_argument("--timeout", type=positive_seconds)

    rep = sub.add_parser("report", help="regenerate the README tables and result blocks from benchmarks/results")
    rep.add_argument("--check", action="store_true", help="exit 1 if a README is not up to date")
    rep.add_argument("--papers", nargs="+", help="only these papers' READMEs (default: all, and the root table)")

    red = sub.add_parser(
        "rederive", help="re-derive committed full-scale summaries (means, claims) from their seed records"
    )
    red.add_argument("--papers", nargs="+", help="slugs (default: all with committed results)")

    ver = sub.add_parser(
        "verify", help="re-run papers' full scale and say whether this machine reproduces the committed results"
    )
    ver.add_argument("--papers", nargs="+", required=True)
    ver.add_argument("--out", type=Path, help="where the run goes (default: runs/verify)")
    ver.add_argument("--records", type=Path, help="compare the finished run under this folder; run nothing")
    ver.add_argument("--timeout", type=positive_seconds, help="seconds per paper (default: 1800)")
    ver.add_argument(
        "--emulate-isa",
        choices=sorted(EMULATED_ISA),
        help="run with the instruction set capped (measures the cross-machine variation of each metric)",
    )

    new = sub.add_parser("new-paper", help="scaffold papers/<slug> so that it passes the conformance tests")
    new.add_argument("slug")
    new.add_argument("--framework", choices=("torch", "jax", "tensorflow"), default="torch")
    return parser


def select(registry: Mapping[str, Paper], slugs: list[str] | None) -> list[Paper]:
    """The papers named by ``slugs`` (all when None); an unknown slug is a usage error listing the known ones."""
    if not slugs:
        return list(registry.values())
    unknown = [s for s in slugs if s not in registry]
    if unknown:
        raise UsageError(f"unknown paper(s): {', '.join(unknown)}; known: {', '.join(registry) or '(none)'}")
    return [registry[s] for s in slugs]


def report_checks(checks: list[compare.Check]) -> int:
    """Print the checks as a table; 1 if any failed."""
    rows = [(c.slug, "WARN" if c.warning else ("ok" if c.ok else "FAIL"), c.what, c.message) for c in checks]
    print(format_table(("paper", "status", "check", "detail"), rows))
    failed = [c for c in checks if not c.ok]
    print(f"\n{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def load_record(path: Path, validate: Callable[[Any, str], None]) -> Any:
    """A JSON record read and validated; ``None`` when absent; ``ValueError`` naming the file (and field)."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path}: unreadable: {type(err).__name__}: {err}") from err
    validate(record, str(path))
    return record


def committed_verdicts(root: Path, slug: str, scale: str) -> tuple[dict | None, list[compare.Check]]:
    """The committed summary of ``slug`` at ``scale`` (None when absent), or a FAIL check if it is malformed."""
    try:
        return load_record(summary_path(root / "benchmarks" / "results", slug, scale), validate_summary), []
    except ValueError as err:
        return None, [compare.Check(slug, "record", False, str(err))]


def judge(outcome: runner.Outcome, scale: str, root: Path, committed: dict | None) -> list[compare.Check]:
    """The checks for one paper's outcome at ``scale`` (full: against ``committed``, read before the run).

    A malformed baseline is a FAIL naming the file and the field.
    """
    if outcome.status != runner.OK:
        return [compare.Check(outcome.slug, "run", False, f"{outcome.status}: {outcome.detail}")]
    assert outcome.summary is not None
    if scale != "smoke":
        return compare.check_verdicts(outcome.slug, outcome.summary, committed)
    try:
        baseline = load_record(root / "benchmarks" / "baselines" / f"{outcome.slug}.json", validate_baseline)
    except ValueError as err:
        return [compare.Check(outcome.slug, "baseline", False, str(err))]
    return compare.compare_to_baseline(outcome.slug, outcome.summary, baseline) + compare.check_smoke_claims(
        outcome.slug, outcome.summary, baseline
    )


def default_out(root: Path, scale: str) -> Path:
    return root / "benchmarks" / "results" if scale == "full" else root / "runs" / "bench"


def cmd_bench(args: argparse.Namespace, registry: Mapping[str, Paper], root: Path) -> int:
    papers = select(registry, args.papers)
    out = args.out or default_out(root, args.scale)
    timeout = args.timeout or TIMEOUTS_S[args.scale]
    if args.dry_run:
        for paper in papers:
            print(shlex.join(runner.command(paper, args.scale, None, out)))
        return 0
    if args.scale == "full":
        git = git_info(root)
        if git["dirty"] is not False and not args.allow_dirty:
            state = "has uncommitted changes" if git["dirty"] else "is not a git checkout"
            raise UsageError(
                f"{root} {state}: full-scale results are recorded from a clean tree at a named commit "
                "(commit first, or pass --allow-dirty, which the records then state)"
            )
    # With --allow-dirty the children are told so, and their records say so.
    extra_env = {DIRTY_OVERRIDE: "1"} if args.scale == "full" and args.allow_dirty else {}
    checks = []
    for paper in papers:
        committed, problems = committed_verdicts(root, paper.slug, args.scale)
        print(f"running {paper.slug} ({args.scale}) ...", file=sys.stderr, flush=True)
        outcome = runner.run_paper(paper, args.scale, out, timeout, extra_env=extra_env)
        print(f"  {outcome.status} in {outcome.wall_time_s:.1f} s", file=sys.stderr, flush=True)
        checks += problems + judge(outcome, args.scale, root, committed)
    if args.scale == "full" and out == default_out(root, "full"):
        write_readme(root, registry)
    return report_checks(checks)


def cmd_compare(args: argparse.Namespace, registry: Mapping[str, Paper], root: Path) -> int:
    papers = select(registry, args.papers)
    out = args.out or default_out(root, args.scale)
    checks = []
    for paper in papers:
        outcome = runner.read_outcome(paper.slug, args.scale, out)
        # Records read from benchmarks/results are the committed ones: nothing to compare them with.
        committed, problems = (
            (None, []) if out == default_out(root, "full") else committed_verdicts(root, paper.slug, args.scale)
        )
        checks += problems + judge(outcome, args.scale, root, committed)
    return report_checks(checks)


def cmd_baseline(args: argparse.Namespace, registry: Mapping[str, Paper], root: Path) -> int:
    papers = select(registry, args.papers)
    out = root / "runs" / "baseline"
    status = 0
    for paper in papers:
        outcome = runner.run_paper(paper, "smoke", out, args.timeout or TIMEOUTS_S["smoke"])
        if outcome.status != runner.OK:
            print(f"{paper.slug}: {outcome.status}: {outcome.detail}; baseline unchanged", file=sys.stderr)
            status = 1
            continue
        assert outcome.summary is not None
        path = write_json_atomic(
            root / "benchmarks" / "baselines" / f"{paper.slug}.json", compare.make_baseline(outcome.summary)
        )
        print(f"{paper.slug}: wrote {path.relative_to(root)}")
    return status


def cmd_verify(args: argparse.Namespace, registry: Mapping[str, Paper], root: Path) -> int:
    """Run (or read) each paper's full scale and compare it with the committed records; 1 if a verdict differs."""
    papers = select(registry, args.papers)
    if args.records and args.emulate_isa:
        raise UsageError("--emulate-isa applies to a run; --records reads a finished one")
    committed_root = root / "benchmarks" / "results"
    out = args.records or args.out or root / "runs" / "verify"
    extra_env: dict[str, str] = {}
    if args.emulate_isa:
        capped = emulate_isa(apply_run_environment(dict(os.environ)), args.emulate_isa)
        extra_env = {name: capped[name] for name in EMULATED_ISA[args.emulate_isa]}
    status = 0
    for paper in papers:
        committed = runner.read_outcome(paper.slug, "full", committed_root)
        if committed.status != runner.OK:
            raise UsageError(f"{paper.slug}: no valid committed full-scale records: {committed.detail}")
        assert committed.summary is not None
        if args.records:
            outcome = runner.read_outcome(paper.slug, "full", out, seeds=committed.summary["seeds"])
        else:
            print(f"running {paper.slug} (full) into {out} ...", file=sys.stderr, flush=True)
            outcome = runner.run_paper(paper, "full", out, args.timeout or TIMEOUTS_S["full"], extra_env=extra_env)
            print(f"  {outcome.status} in {outcome.wall_time_s:.1f} s", file=sys.stderr, flush=True)
        if outcome.status != runner.OK:
            print(f"{paper.slug}: the run did not finish: {outcome.status}: {outcome.detail}")
            status = 1
            continue
        assert outcome.summary is not None
        benchmark = importlib.import_module(f"{paper.module}.bench").BENCHMARK
        # Both sides' verdicts come from the current claims, so that only the records can differ.
        old, new = (verify.resummarize(benchmark, o.summary, o.seeds) for o in (committed, outcome))
        moves = verify.metric_moves(benchmark, committed.seeds, outcome.seeds, old, new)
        text, same = verify.report(paper.slug, moves, verify.verdict_checks(old, new))
        print(f"committed at {_commit(old)}; this run at {_commit(new)}")
        print(text)
        if args.emulate_isa:
            rows = [(pattern, f"{value:.3g}") for pattern, value in verify.measured_variation(benchmark, moves).items()]
            print(f"largest per-seed move with the instruction set capped at {args.emulate_isa}:")
            print(format_table(("metric pattern", "max |diff|"), rows))
        status = max(status, 0 if same else 1)
    return status


def _commit(summary: Mapping[str, Any]) -> str:
    git = summary.get("git", {})
    return f"{str(git.get('commit'))[:10]}{' (dirty)' if git.get('dirty') else ''}"


def write_readme(
    root: Path, registry: Mapping[str, Paper], write: bool = True, papers: list[str] | None = None
) -> list[Path]:
    """Regenerate the root README's table and each paper README's results block (when ``write``).

    ``papers`` limits the work to those papers' READMEs (the root table is left alone). Returns the
    READMEs that are (or were) out of date.
    """
    results = root / "benchmarks" / "results"
    stale = []
    renders = {}
    if papers is None:
        renders[root / "README.md"] = lambda text: readme.render(text, readme.table_rows(results, list(registry)))
    for slug in papers or registry:
        path = summary_path(results, slug, "full")
        summary = read_json(path) if path.is_file() else None
        renders[root / "papers" / slug / "README.md"] = lambda text, s=summary, slug=slug: readme.render_paper(
            text, s, slug
        )
    for path, render in renders.items():
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(path)
            if write:
                path.write_text(new, encoding="utf-8")
    return stale


def rederive(paper: Paper, results: Path) -> dict[str, Any]:
    """Recompute a committed full-scale summary's means, claims and plots from its seed records (nothing is run).

    The paper's current ``BENCHMARK`` rebuilds the recorded config, evaluates its current claims and redraws
    its figures (a changed cross-seed selection changes what they show); run facts (wall time, git commit of
    the run) are kept, and ``rederived`` records when and at which commit the verdicts were re-derived.
    """
    benchmark = importlib.import_module(f"{paper.module}.bench").BENCHMARK
    path = summary_path(results, paper.slug, "full")
    summary = read_json(path)
    records = [read_json(seed_record_path(results, paper.slug, "full", seed)) for seed in summary["seeds"]]
    config = benchmark.config_from_dict("full", summary["config"])
    summary.update(benchmark.summarize("full", [r["metrics"] for r in records], config))
    plot = benchmark.plot.get("full")
    summary["plots"] = [p.name for p in plot(config, records, path.parent)] if plot else []
    summary["rederived"] = {"git": git_info(results), "utc": utc_now()}
    write_json_atomic(path, summary)
    return summary


def main(argv: list[str] | None = None, registry: Mapping[str, Paper] | None = None, root: Path | None = None) -> int:
    """Entry point of the ``paperzoo`` console script (``registry``/``root`` are for tests)."""
    args = build_parser().parse_args(argv)
    registry = discover() if registry is None else registry
    try:
        if args.command == "list":
            print(format_table(("paper", "module"), [(p.slug, p.module) for p in registry.values()]))
            return 0
        if args.command == "run":
            (paper,) = select(registry, [args.slug])
            timeout = args.timeout or TIMEOUTS_S.get(args.scale, 1e9)
            outcome = runner.run_paper(paper, args.scale, args.out, timeout, args.seeds, args.device, stream=True)
            print(f"{paper.slug}: {outcome.status} in {outcome.wall_time_s:.1f} s {outcome.detail}".rstrip())
            return 0 if outcome.status == runner.OK else 1
        if args.command == "new-paper":
            root = root or repo_root()
            folder = scaffold.create(root, args.slug, args.framework)
            print(f"created {folder.relative_to(root)}; next: `uv lock` and `uv sync --all-packages`")
            return 0
        root = root or repo_root()
        if args.command == "bench":
            return cmd_bench(args, registry, root)
        if args.command == "compare":
            return cmd_compare(args, registry, root)
        if args.command == "baseline":
            return cmd_baseline(args, registry, root)
        if args.command == "verify":
            return cmd_verify(args, registry, root)
        if args.command == "rederive":
            results = root / "benchmarks" / "results"
            chosen = args.papers or [s for s in registry if summary_path(results, s, "full").is_file()]
            for paper in select(registry, chosen):
                summary = rederive(paper, results)
                verdicts = ", ".join(c["verdict"] for c in summary["claims"])
                print(f"{paper.slug}: {verdicts}")
            print("run `make report` to regenerate the READMEs", file=sys.stderr)
            return 0
        papers = [p.slug for p in select(registry, args.papers)] if args.papers else None
        stale = write_readme(root, registry, write=not args.check, papers=papers)
        if args.check and stale:
            names = ", ".join(str(p.relative_to(root)) for p in stale)
            print(f"out of date: {names}: run `make report`", file=sys.stderr)
            return 1
        return 0
    except (UsageError, FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"paperzoo: error: {err}", file=sys.stderr)
        return 2
    except runner.Interrupted as stop:
        print(f"paperzoo: {stop}: the run was stopped and its processes killed", file=sys.stderr)
        return 128 + stop.signum


if __name__ == "__main__":
    sys.exit(main())
