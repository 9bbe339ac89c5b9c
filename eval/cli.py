"""``vlmctx eval`` and ``vlmctx report``: registered into the ``vlmctx`` CLI by entry point.

``register(subparsers)`` adds both subcommands (entry point ``eval = "vlmctx_eval.cli:register"``
in the ``vlmctx.commands`` group). Bad input raises :mod:`vlmctx.errors` exceptions, which the core
CLI prints as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from vlmctx.cli.argtypes import (
    add_prefix_cache_args,
    device,
    existing_file,
    output_dir,
    positive_int,
    prefix_cache_of,
)
from vlmctx.cli.context_args import add_context_args, context_from_args, parse_kv
from vlmctx.errors import ConfigError, DataFormatError


def parse_lengths(text: str | None) -> list[int] | None:
    """``"8k,16k,128K"`` -> ``[8, 16, 128]`` (thousands of tokens, MMLongBench file lengths)."""
    if not text:
        return None
    out = []
    for part in text.split(","):
        p = part.strip().lower().removesuffix("k")
        if not p.isdigit() or int(p) <= 0:
            raise ConfigError(f"bad length {part!r}: use e.g. --lengths 8k,16k,32k")
        out.append(int(p))
    return out


def _lengths_arg(text: str) -> str:
    """``--lengths`` checked while parsing (kept as text; :func:`parse_lengths` reads it)."""
    try:
        parse_lengths(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(
            str(exc).replace("use e.g. --lengths", "use e.g.")
        ) from None
    return text


def build_tasks(
    names: str, task_args: list[str] | None, common: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Create the named tasks with their ``TASK:KEY=VALUE`` arguments (validated by the registry).

    ``common`` (e.g. the ``--judge-*`` flags) goes to every task whose constructor takes the key;
    ``--task-arg`` values win over it. A common key that no task takes is an error.
    """
    from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks

    load_builtin_tasks()
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise ConfigError("no task given: --tasks mmlongbench,longvideo_mcq,vniah")
    params: dict[str, list[str]] = {}
    for item in task_args or []:
        task, sep, kv = item.partition(":")
        if not sep or task not in wanted:
            raise ConfigError(
                f"--task-arg {item!r}: expected TASK:KEY=VALUE with TASK one of {', '.join(wanted)}"
            )
        params.setdefault(task, []).append(kv)
    tasks = {}
    used: set[str] = set()
    for name in wanted:
        kwargs = parse_kv(params.get(name))
        for key, value in (common or {}).items():
            if key in TASKS.entry(name).parameters():
                used.add(key)
                kwargs.setdefault(key, value)
        _require_task_args(name, TASKS.entry(name).parameters(), kwargs)
        try:
            tasks[name] = TASKS.create(name, **kwargs)
        except TypeError as exc:  # a required argument is missing
            raise ConfigError(
                f"task {name}: {exc}; pass it with --task-arg {name}:KEY=VALUE"
            ) from exc
    unused = sorted(set(common or {}) - used)
    if unused:
        flags = ", ".join("--" + k.replace("_", "-") for k in unused)
        raise ConfigError(f"{flags}: none of the tasks {', '.join(wanted)} uses it; drop it")
    return tasks


def _require_task_args(name: str, accepted: dict[str, Any], given: dict[str, Any]) -> None:
    """A task parameter without a default that was not given: say the exact flag to add."""
    import inspect

    missing = [k for k, v in accepted.items() if v is inspect.Parameter.empty and k not in given]
    if missing:
        flags = " ".join(f"--task-arg {name}:{k}={k.upper()}" for k in missing)
        raise ConfigError(f"task {name} needs {', '.join(missing)}: add {flags}")


def judge_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Task arguments from the ``--judge-*`` flags (empty without ``--judge-url``). Flags left
    unset are not passed, so each task keeps its own default (its paper's judge model)."""
    if not args.judge_url:
        return {}
    given = {
        "judge_url": args.judge_url,
        "judge_model": args.judge_model,
        "judge_key_env": args.judge_key_env,
        "judge_for": args.judge_for,
    }
    return {k: v for k, v in given.items() if v is not None}


def versions(model_info: dict[str, Any] | None) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("vlmctx", "torch", "transformers", "accelerate", "rouge-score"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    out.update((model_info or {}).get("versions", {}))
    return out


def _load_model(args: argparse.Namespace, config: Any, parallel: Any) -> Any:
    from vlmctx.engine import VideoLM

    kwargs: dict[str, Any] = {}
    if args.device != "auto":
        kwargs["device"] = args.device
    elif parallel.world > 1:
        kwargs["device"] = parallel.device
    return VideoLM.load(args.model, config, prefix_cache=prefix_cache_of(args), **kwargs)


def _parallel(predictions: bool) -> Any:
    from vlmctx_eval.harness.runner import Parallel

    if predictions:
        return Parallel()
    try:
        from accelerate import PartialState
    except ImportError:
        return Parallel()
    import os

    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    # accelerate's PartialState() only forms a multi-process CPU group when asked for the CPU;
    # without it, `accelerate launch --multi_gpu` / torchrun on a host with no accelerator gives
    # every process rank 0 of 1 (all would predict every sample into the same file)
    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or (
        world > 1 and not torch.accelerator.is_available()
    )
    state = PartialState(cpu=cpu)
    if world > 1 and state.num_processes != world:
        raise ConfigError(
            f"launched as {world} processes but accelerate formed a group of "
            f"{state.num_processes}; launch with `accelerate launch --multi_gpu --num_processes "
            f"{world} -m vlmctx.cli eval ...` (see docs/eval.md)"
        )
    return Parallel(
        state.process_index, state.num_processes, state.wait_for_everyone, str(state.device)
    )


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine (docs/batch.md: on a cluster)")
    g.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (default; `accelerate launch` for several GPUs) or ray: the "
        "predictions made by Ray Data model actors (needs the `ray` extra)",
    )
    g.add_argument(
        "--ray-address",
        help="Ray cluster to join, e.g. HEAD_IP:6379 (default: $RAY_ADDRESS, else a "
        "Ray that `ray start` runs here, else a new one for this job)",
    )
    g.add_argument(
        "--ray-actors",
        type=int,
        default=0,
        help="model actors (default: one per GPU, else one per two CPUs)",
    )
    g.add_argument(
        "--ray-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds to reach and join the Ray cluster before giving up with one line (30)",
    )


def _ray_predict(args: argparse.Namespace, config: Any, header: dict[str, Any]) -> Any:
    """The ``RunOptions.predict`` of ``--engine ray`` (eval/harness/ray_runner.py)."""
    import os

    from vlmctx.runtime.ray_cluster import check_actors, require_ray

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--engine ray runs from one driver: do not start it with accelerate")
    require_ray()
    check_actors(args.ray_actors)
    from vlmctx_eval.harness.ray_runner import ray_predictor

    return ray_predictor(
        args.model, config, args.device, args.ray_address, args.ray_actors,
        timeout_s=args.ray_timeout, header=header,
    )  # fmt: skip


def run_eval(args: argparse.Namespace) -> int:
    from vlmctx_eval.harness.presets import apply_preset, listing
    from vlmctx_eval.harness.runner import RunOptions, evaluate, run_dir_name

    if args.tasks == "list":
        print(listing())
        return 0
    preset = apply_preset(args)  # fills unset flags from a published protocol
    if not args.tasks:
        raise ConfigError("give --tasks T1,T2 or --preset NAME (--tasks list shows both)")
    if not args.model and not args.predictions:
        raise ConfigError("give --model M to run a model, or --predictions FILE.jsonl to rescore")
    if args.limit is not None and args.limit_per_stratum is not None:
        raise ConfigError("give --limit N or --limit-per-stratum K, not both")
    tasks = build_tasks(args.tasks, args.task_arg, judge_kwargs(args))
    config = context_from_args(args)
    on_ray = args.engine == "ray" and not args.predictions  # the model loads in Ray actors
    par = _parallel(bool(args.predictions) or on_ray)
    opts = RunOptions(
        parse_lengths(args.lengths), args.limit, args.log_samples, not args.no_progress, par
    )
    opts.limit_per_stratum, opts.seed = args.limit_per_stratum, args.seed
    loads = _load_announced(tasks, opts, par.rank == 0)  # a too small --limit stops here
    model = None if args.predictions or on_ray else _load_model(args, config, par)
    model_id = args.model or Path(args.predictions).stem
    info = model.info() if model is not None and hasattr(model, "info") else {}
    header = {
        "model": model_id,
        "model_info": info,
        "config": config.to_dict(),
        "mode": "rescore" if args.predictions else "generate",
        "predictions_file": args.predictions,
        "lengths": parse_lengths(args.lengths),
        "limit": args.limit,
        "limit_per_stratum": args.limit_per_stratum,
        "seed": args.seed,
        "preset": preset,
        "versions": versions(info),
        "command": ["vlmctx", *sys.argv[1:]],
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "world_size": par.world,
    }
    out = Path(args.output_path) / run_dir_name(model_id, config.to_dict(), tasks)
    if on_ray:
        opts.predict = _ray_predict(args, config, header)  # fills header's model_info
    doc = evaluate(model, tasks, out, opts, header, args.predictions, loads=loads)
    if doc is not None:
        check_scored(doc["results"], out / "results.json")  # before any "n/a" is printed
        _finish(doc, out)
    return 0


def _load_announced(tasks: dict[str, Any], opts: Any, main: bool) -> dict[str, Any]:
    """Load every task (generating data where a task makes its own), saying where the data are
    and which samples a ``--limit`` takes, before any model loads."""
    from vlmctx_eval.harness.runner import load_tasks
    from vlmctx_eval.harness.strata import describe_plan

    if main:
        for name, task in tasks.items():
            if getattr(task, "generates_data", False):
                print(
                    f"{name}: data in {task.dir} (made on first use; another folder: "
                    f"--task-arg {name}:dir=DIR)",
                    flush=True,
                )
    loads = load_tasks(tasks, opts)
    if main:
        for name, loaded in loads.items():
            print(describe_plan(name, loaded.selection), flush=True)
    return loads


def _finish(doc: dict[str, Any], out: Path) -> None:
    """The closing summary: one line per task (metric, value, 95% interval, n), then the
    results file and the report written next to it (HTML, and Markdown with the same numbers)."""
    from vlmctx_eval.harness.report import summary_table, write_report

    print(summary_table(doc))
    print(f"results: {out / 'results.json'}")
    try:
        written = write_report([str(out)], str(out), ["md", "html"])
    except (ImportError, OSError, ValueError) as exc:  # the run itself is complete
        print(f"report not written ({exc}); run `vlmctx report {out} --format md,html`")
        return
    print(f"report: {next(p for p in written if p.endswith('.html'))}")


def check_scored(results: dict[str, Any], path: Path) -> None:
    """A task of which no sample was scored (none loaded, none with a prediction, or predictions
    whose scoring failed so that no score could be computed) is an error: one line (exit 2) saying why, never
    ``n/a`` with exit 0. results.json is written before, so nothing is lost."""
    for name, res in results.items():
        if res.get("n_predicted", 0) > 0:
            computed = [v for v in (res.get("scores") or {}).values() if v is not None]
            if not computed and res.get("n_scoring_errors", 0):  # e.g. every judge call failed
                raise DataFormatError(
                    f"{name}: {res['n_predicted']} predictions but no score could be computed "
                    f"({res.get('n_scoring_errors', 0)} scoring errors); details in {path}"
                )
            continue
        errors = res.get("data_errors") or []
        why = (
            f"{res.get('n_data_errors', 0)} data errors, the first: {errors[0]['error']}"
            if errors
            else f"{res.get('n_predicted', 0)}/{res.get('n_samples', 0)} predicted"
        )
        raise DataFormatError(f"{name}: nothing was scored ({why}); details in {path}")


def run_report(args: argparse.Namespace) -> int:
    from vlmctx_eval.harness.report import write_report

    if args.compare:
        return _compare(args)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    written = write_report(args.dirs, args.output, formats, plots=not args.no_plots)
    for path in written:
        print(path)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from vlmctx_eval.harness.compare import compare, to_markdown

    if len(args.dirs) != 2:
        raise ConfigError(f"--compare takes exactly two run directories, got {len(args.dirs)}")
    a, b = args.dirs
    text = to_markdown(a, b, compare(a, b))
    dest = Path(args.output or a) / "compare.md"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    print(text, end="")
    print(dest)
    return 0


def register(sub: Any) -> None:
    """Add the ``eval`` and ``report`` subcommands to the ``vlmctx`` parser."""
    p = sub.add_parser(
        "eval",
        help="evaluate a model on benchmarks (or rescore predictions)",
        description="Run MODEL on benchmark tasks and write one run directory (predictions, "
        "scores, the exact configuration and versions) under --output-path; or rescore a "
        "predictions file without a model. A task that needs a parameter says which "
        "--task-arg to pass; `--tasks list` shows every task's parameters.",
        epilog="examples:\n"
        "  vlmctx eval --tasks list\n"
        "  vlmctx eval --model toylab --tasks toylab --task-arg toylab:dir=/tmp/toylab --limit 20\n"
        "  vlmctx eval --model Qwen/Qwen2-VL-7B-Instruct --preset qwen2.5-vl-videomme "
        "--task-arg videomme:root=/data/Video-MME\n"
        "  vlmctx report eval_results/",
    )
    p.add_argument("--model", help="model id, local folder or tiny-<family>")
    p.add_argument(
        "--tasks",
        help="comma list, e.g. videomme,mlvu; `--tasks list` prints every task with its "
        "parameters and every preset",
    )
    p.add_argument(
        "--preset",
        help="a published protocol: task, frames/fps, pixel limits (see --tasks list); "
        "explicit flags override it",
    )
    p.add_argument(
        "--task-arg",
        action="append",
        metavar="TASK:KEY=VALUE",
        help="task parameter, e.g. mmlongbench:root=/data/MMLongBench (repeatable)",
    )
    p.add_argument(
        "--lengths",
        type=_lengths_arg,
        help="MMLongBench lengths, e.g. 8k,16k,32k (default: all found)",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        help="N samples per task, stratified over what its report breaks down by (frames, "
        "kinds, depths, duration buckets, categories, datasets x lengths): one per stratum, "
        "the rest in proportion; refused when N is below the levels a report dimension shows",
    )
    p.add_argument(
        "--limit-per-stratum",
        type=positive_int,
        metavar="K",
        help="K samples from every stratum of every task (all of a smaller stratum)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="which samples a --limit takes (the same seed, the same samples; default 0)",
    )
    p.add_argument(
        "--output-path", type=output_dir, default="eval_results", help="parent of the run directory"
    )
    p.add_argument("--log-samples", action="store_true", help="store full input text per sample")
    p.add_argument(
        "--predictions",
        type=existing_file,
        help="rescore this JSONL (sample_id, prediction); no model",
    )
    p.add_argument("--device", type=device, default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_prefix_cache_args(p)
    _add_engine_args(p)
    j = p.add_argument_group(
        "LLM judge (optional for MMLongBench summarization and DocVQA; required by mlvu_gen)"
    )
    j.add_argument("--judge-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    j.add_argument(
        "--judge-model",
        help="judge model name (default: each task's paper's judge: mmlongbench "
        "gpt-4o-2024-11-20, mlvu_gen gpt-4-turbo)",
    )
    j.add_argument(
        "--judge-key-env", help="environment variable holding the API key (default LLM_JUDGE_KEY)"
    )
    j.add_argument(
        "--judge-for",
        help="mmlongbench: what the judge scores: summ (paper, default), docqa (V1.1), "
        "or summ,docqa",
    )
    add_context_args(p)
    p.set_defaults(func=run_eval)

    r = sub.add_parser(
        "report",
        help="tables and plots from one or more eval run directories",
        description="Gather the results.json of every run under DIRS into tables (md, csv, "
        "html) and plots; with --compare, a paired comparison of two runs.",
        epilog="examples:\n"
        "  vlmctx report eval_results/\n"
        "  vlmctx report eval_results/ --format md,csv --no-plots\n"
        "  vlmctx report --compare eval_results/RUN_A eval_results/RUN_B",
    )
    r.add_argument("dirs", nargs="+", help="run directories or parents holding results.json files")
    r.add_argument("--format", default="md", help="comma list of md, csv, html (default md)")
    r.add_argument("--output", type=output_dir, help="where to write (default: the first DIR)")
    r.add_argument("--no-plots", action="store_true", help="tables only")
    r.add_argument(
        "--compare",
        action="store_true",
        help="exactly two run directories A B: paired accuracy difference on shared sample "
        "ids with McNemar's test (writes compare.md)",
    )
    r.set_defaults(func=run_report)
