"""Command line: parse, build the pipeline, show progress and a summary. No logic of its own."""

from __future__ import annotations

import argparse
import errno
import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gen4gen import __version__

if TYPE_CHECKING:  # the CLI imports the pipeline only once it has parsed the arguments: --help stays instant
    from rich.console import Console

    from gen4gen.stages.base import StageStats

EXIT_OK, EXIT_NOTHING_DONE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _add_config_args(parser: argparse.ArgumentParser, samples: bool = True) -> None:
    parser.add_argument("--config", type=Path, help="YAML or TOML config file (see `gen4gen init`)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    if samples:
        parser.add_argument("-n", "--samples", type=int, help="accepted samples per composition")
        parser.add_argument("--seed", type=int, help="run seed")


def _add_work_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes for CPU-bound stages (1: this one; default 0: one per core, started when it pays)",
    )
    parser.add_argument(
        "--executor",
        choices=("local", "process", "ray"),
        help="where the work runs: this process, --workers processes, or actors on a Ray cluster "
        "(default: local for --workers 1, process otherwise)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="Ray cluster to join (host:port, ray://host:port or auto; default: $RAY_ADDRESS, else a new local "
        "instance); implies --executor ray",
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="try again the items that failed before with the same inputs"
    )
    parser.add_argument(
        "--verify", action="store_true", help="re-hash every output before reusing it (default: size + mtime)"
    )


def _add_export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        metavar="FORMAT",
        help="hf, coco, webdataset, custom-diffusion, dreambooth or kohya (repeatable; see docs/exports.md)",
    )
    parser.add_argument(
        "--out",
        dest="export_out",
        type=Path,
        metavar="DIR",
        help="export folder (default RUN_DIR/exports/FORMAT; with several formats DIR/FORMAT)",
    )
    parser.add_argument("--include-flagged", action="store_true", default=None, help="also export flagged samples")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gen4gen", description="Multi-concept personalisation datasets from a few photos per concept."
    )
    parser.add_argument("--version", action="version", version=f"gen4gen {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars (messages still shown)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="all stages: photos -> finished dataset in RUN_DIR")
    run.add_argument("src", type=Path, help="SRC/<concept>/<photos> or SRC/<composition>/<concept>/<photos>")
    run.add_argument("--out", type=Path, required=True, help="run folder (created; rerun to resume)")
    _add_config_args(run)
    _add_work_args(run)

    segment = sub.add_parser("segment", help="stage 1: cut-outs and soft masks of every photo into DIR")
    segment.add_argument("src", type=Path)
    segment.add_argument("--out", type=Path, required=True)
    _add_config_args(segment, samples=False)
    _add_work_args(segment)

    for name, text in (
        ("compose", "stage 2: layouts, composites and instance masks"),
        ("repaint", "stage 3: realistic backgrounds"),
        ("caption", "stage 4: grounded captions"),
        ("curate", "stage 5: automatic quality checks, a verdict per sample and check, report.html"),
        ("export", "stage 6: metadata.jsonl and contact sheet, or training-ready exports (--format)"),
    ):
        stage = sub.add_parser(name, help=f"{text}, in an existing run folder")
        stage.add_argument("run_dir", type=Path, help="run folder made by `gen4gen run` or `gen4gen segment`")
        _add_config_args(stage, samples=name == "compose")
        if name != "export":
            _add_work_args(stage)
        else:
            _add_export_args(stage)

    report = sub.add_parser(
        "report", help="RUN_DIR/report.html: every sample with its verdicts, scores and reasons"
    )
    report.add_argument("run_dir", type=Path, help="run folder made by `gen4gen run`")
    _add_config_args(report, samples=False)

    init = sub.add_parser("init", help="write a commented example config")
    init.add_argument("path", type=Path, nargs="?", default=Path("gen4gen.yaml"))

    demo = sub.add_parser("demo", help="the whole pipeline on built-in photos (no network, no weights)")
    demo.add_argument("--out", type=Path, required=True)
    _add_config_args(demo)
    _add_work_args(demo)

    review = sub.add_parser("review", help="rate, reject, re-caption and fix cut-outs in a local web page")
    review.add_argument("run_dir", type=Path, help="run folder made by `gen4gen run`")
    review.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    review.add_argument("--port", type=int, default=0, help="port (default 0: any free one; the URL is printed)")
    review.add_argument(
        "--token", help="access token (required by any address but loopback; generated and printed when not given)"
    )
    review.add_argument("--open", action="store_true", help="open the page in the default browser")

    backends = sub.add_parser("backends", help="list the backends of every stage")
    backends.add_argument("--options", action="store_true", help="also each backend's options and defaults")

    evaluate = sub.add_parser("eval", help="CP-CLIP and TI-CLIP of generated images against the concepts' photos")
    evaluate.add_argument(
        "images", type=Path, help="folder with metadata.jsonl (file_name, concepts, text), or a gen4gen run folder"
    )
    evaluate.add_argument(
        "--concepts",
        type=Path,
        required=True,
        metavar="SPEC",
        help="YAML/JSON {concepts: {NAME: {class: WORD, references: PATH}}}, or a gen4gen run folder",
    )
    evaluate.add_argument("--out", type=Path, required=True, help="results folder (created; rerun to resume)")
    evaluate.add_argument("--config", type=Path, help="YAML or TOML file with an eval: section")
    evaluate.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="eval.KEY=VALUE", help="override a setting"
    )
    return parser


EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled exactly like Ctrl-C (only the exit status differs)."""


def _on_signal(signum: int, frame: object) -> None:
    from gen4gen.llm.abort import abort_requests

    abort_requests()  # every wait for an endpoint ends now, in every thread
    raise _Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _catch_signals() -> dict[int, Any] | None:
    """Ctrl-C and SIGTERM stop the command promptly and alike; returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.getsignal(signum)
        if previous[signum] is not signal.SIG_IGN:  # ignored (a background job): stays ignored
            signal.signal(signum, _on_signal)
    return previous


def _accept_quiet_after_subcommand(parser: argparse.ArgumentParser) -> None:
    """``gen4gen run -q ...`` as well as ``gen4gen -q run ...``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("-q" in a.option_strings for a in sub._actions):
                    sub.add_argument(
                        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
                    )


_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    _accept_quiet_after_subcommand(parser)
    args = parser.parse_args(argv)
    import logging
    import sqlite3

    from gen4gen.errors import Gen4GenError, exit_code
    from gen4gen.llm.abort import reset

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    console = _console()
    reset()
    previous = _catch_signals()
    try:
        return _dispatch(args, console)
    except KeyboardInterrupt as exc:
        console.print(
            "[yellow]interrupted[/]: everything finished so far is kept; rerun the same command to resume",
            soft_wrap=True,
        )
        return EXIT_TERMINATED if isinstance(exc, _Terminated) else EXIT_INTERRUPTED
    except Gen4GenError as exc:
        _error(console, str(exc))
        return exit_code(exc)
    except OSError as exc:  # the disk, wherever it is hit first
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        from gen4gen.io.atomic import write_error

        _error(console, str(write_error(Path(exc.filename or "."), exc)))
        return EXIT_NOTHING_DONE
    except sqlite3.OperationalError as exc:
        if not any(word in str(exc) for word in ("full", "readonly", "read-only", "disk I/O")):
            raise
        _error(console, f"manifest.sqlite: {exc}; free some space or use a writable --out, then rerun to resume")
        return EXIT_NOTHING_DONE
    finally:
        for signum, handler in (previous or {}).items():
            signal.signal(signum, handler)


def _error(console: Console, message: str) -> None:
    from rich.markup import escape

    console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.overrides)
    if getattr(args, "samples", None) is not None:
        overrides.append(f"samples={args.samples}")
    if getattr(args, "seed", None) is not None:
        overrides.append(f"seed={args.seed}")
    if getattr(args, "workers", None) is not None:
        overrides.append(f"workers={args.workers}")
    executor = getattr(args, "executor", None)
    address = getattr(args, "ray_address", None)
    if executor is not None or address is not None:
        overrides.append(f"executor.kind={executor or 'ray'}")
    if address is not None:
        overrides.append(f"executor.ray.address={json.dumps(address)}")  # quoted: never read as a number
    return overrides


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    if args.command == "init":
        from gen4gen.config import EXAMPLE_CONFIG
        from gen4gen.io.atomic import atomic_write_text

        if args.path.exists():
            _error(console, f"{args.path} already exists; choose another path or remove it")
            return EXIT_USAGE
        if not args.path.parent.is_dir():
            _error(console, f"{args.path}: no folder {args.path.parent}; create it first or choose another path")
            return EXIT_USAGE
        atomic_write_text(args.path, EXAMPLE_CONFIG)
        console.print(f"wrote {args.path}")
        return EXIT_OK
    if args.command == "backends":
        from gen4gen.backends import REGISTRY

        for kind, table in REGISTRY.items():
            print(f"{kind}: {', '.join(table)}")
            if args.options:
                for name in table:
                    _print_options(kind, name)
        return EXIT_OK
    if args.command == "eval":
        return _eval(args, console)
    if args.command == "review":
        return _review(args, console)

    from gen4gen.config import load_config
    from gen4gen.io.atomic import make_output_folder
    from gen4gen.io.sources import ensure_outside
    from gen4gen.pipeline import Pipeline
    from gen4gen.progress import RichReporter

    reporter = RichReporter(console, progress=not args.quiet)
    retry, verify = getattr(args, "retry_failed", False), getattr(args, "verify", False)
    if args.command in ("run", "demo"):
        overrides = _overrides(args)
        if args.command == "demo":
            from gen4gen.demo import write_demo_inputs

            make_output_folder(args.out)
            args.src = write_demo_inputs(args.out / "inputs")
            args.out = args.out / "run"
        config = load_config(args.config, overrides)
        ensure_outside(args.src, args.out)
        make_output_folder(args.out)
        with Pipeline(args.out, config, reporter, retry, verify) as pipeline:
            stats = pipeline.run(args.src)
        _summary(console, stats, args.out)
        _report_line(console, pipeline.report_path)
        return EXIT_OK if stats[-1].made > 0 else EXIT_NOTHING_DONE
    if args.command == "segment":
        config = load_config(args.config, _overrides(args))
        ensure_outside(args.src, args.out)
        make_output_folder(args.out)
        with Pipeline(args.out, config, reporter, retry, verify) as pipeline:
            pipeline.write_config()
            segmented = pipeline.segment(args.src, cutouts_root=args.out)
        _summary(console, [segmented], args.out)
        return EXIT_OK if segmented.total_ok > 0 else EXIT_NOTHING_DONE
    run_dir: Path = args.run_dir
    if not (run_dir / "manifest.sqlite").is_file():
        hint = f"make the run folder with `gen4gen run SRC --out {run_dir}`"
        _error(console, f"{run_dir}: no manifest.sqlite here; {hint}")
        return EXIT_NOTHING_DONE
    config = Pipeline.saved_config(run_dir, args.config, _overrides(args))
    with Pipeline(run_dir, config, reporter, retry, verify) as pipeline:
        if args.command == "report":
            _report_line(console, pipeline.report())
            return EXIT_OK
        pipeline.write_config()
        if args.command == "export":
            stage: StageStats = pipeline.export(args.formats, args.export_out, args.include_flagged)
        else:
            stage = getattr(pipeline, args.command)()
    _summary(console, [stage], run_dir)
    _report_line(console, pipeline.report_path)
    return EXIT_OK if stage.total_ok > 0 else EXIT_NOTHING_DONE


def _review(args: argparse.Namespace, console: Console) -> int:
    """Serve the review page until Ctrl-C."""
    from gen4gen.review.server import is_loopback, make_server

    if not 0 <= args.port <= 65535:
        _error(console, f"--port {args.port}: not a port (0..65535; 0 picks a free one)")
        return EXIT_USAGE
    try:
        server = make_server(args.run_dir, args.host, args.port, args.token)
    except OSError as exc:
        _error(console, f"--host {args.host} --port {args.port}: cannot listen there ({exc.strerror or exc})")
        return EXIT_NOTHING_DONE
    if not is_loopback(args.host):
        console.print(
            f"[yellow]warning:[/] listening on {args.host}: anyone who can reach it and has the token "
            "can change this run's decisions",
            highlight=False,
        )
    print(f"gen4gen review: {server.url}  (Ctrl-C stops)", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("review stopped; every decision is in the manifest")
    finally:
        server.server_close()
        server.app.close()
    return EXIT_OK


def _eval(args: argparse.Namespace, console: Console) -> int:
    """Score the images, then print the Table 1 summary."""
    from rich.table import Table

    from gen4gen.evaluate.config import load_eval_config
    from gen4gen.evaluate.run import evaluate
    from gen4gen.progress import RichReporter

    config = load_eval_config(args.config, args.overrides)
    stats = evaluate(args.images, args.concepts, args.out, config, RichReporter(console, progress=not args.quiet))
    table = Table(title=f"gen4gen eval — {args.out}", title_justify="left")
    for column in ("concepts", "images", "CP-CLIP", "TI-CLIP"):
        table.add_column(column, justify="left" if column == "concepts" else "right")
    for group in ("all", "<=3", "4", ">=5"):
        cp, ti = stats.summary["cp_clip"][group], stats.summary["ti_clip"][group]
        cells = [f"{s['mean']:.4f} ± {s['std']:.4f}" if s["count"] else "-" for s in (cp, ti)]
        table.add_row(group, str(cp["count"]), *cells)
    console.print(table)
    failed = sum(stats.failed.values())
    console.print(f"scored {stats.scored}, reused {stats.reused}, failed {failed} in {stats.seconds:.1f}s")
    return EXIT_OK if stats.scored + stats.reused > 0 else EXIT_NOTHING_DONE


def _print_options(kind: str, name: str) -> None:
    """``  kind.key = default  description`` for every option of one backend."""
    from gen4gen.backends import backend_class

    print(f"  {name}")
    for key, field in backend_class(kind, name).Options.model_fields.items():
        default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
        print(f"    {kind}.{key} = {default}" + (f"  — {field.description}" if field.description else ""))


def _report_line(console: Console, path: Path | None) -> None:
    if path is not None:
        from rich.markup import escape

        console.print(f"report: {escape(str(path))}", highlight=False, soft_wrap=True)


def _summary(console: Console, stats: list[StageStats], run_dir: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"gen4gen — {run_dir}", title_justify="left")
    for column in ("stage", "made", "reused", "rejected", "failed", "seconds", "s/item"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for s in stats:
        table.add_row(
            s.name,
            str(s.made),
            str(s.reused),
            str(sum(s.rejected.values())),
            str(s.total_failed),
            f"{s.seconds:.1f}",
            f"{s.seconds / s.made:.2f}" if s.made else "-",
        )
    console.print(table)
    for s in stats:
        for reason, count in s.rejected.most_common():
            console.print(f"  {s.name} rejected {count}: {escape(reason)}", highlight=False)
        for cause, count in s.failed.most_common():
            console.print(f"  {s.name} failed {count}: {escape(cause)}", highlight=False)


if __name__ == "__main__":
    sys.exit(main())
