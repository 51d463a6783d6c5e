"""Command line: `python -m docqa dataset ...`, `python -m docqa sample-corpus DIR`,
`python -m docqa view FOLDER`, `python -m docqa push FOLDER --repo USER/NAME`."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from docqa.config import load_config
from docqa.errors import UserError
from docqa.output.provenance import safe_location, scrub_urls
from docqa.runtime.faults import systemic_fault_in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docqa", description="PDFs in, a document-QA dataset out.")
    commands = parser.add_subparsers(dest="command", required=True)
    dataset = commands.add_parser("dataset", help="build a dataset")
    submit = commands.add_parser("submit", help="build a dataset as a Ray job on the cluster at --address")
    submit.add_argument("--address", required=True, help="the cluster's dashboard, e.g. http://head:8265")
    for command in (dataset, submit):
        command.add_argument("--config", default="configs/default.yaml", help="YAML config (see configs/)")
        command.add_argument("--input", action="append", default=[], help="PDF file, folder or glob (repeatable)")
        command.add_argument("--output", help="output folder (overrides output.dir)")
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
        command.add_argument(
            "--overwrite",
            action="store_true",
            help="replace the output folder even if docqa did not write it (never an input folder, ~ or /)",
        )
        command.add_argument("--verbose", action="store_true", help="Ray's and vLLM's logs on the console, not in the log file")
    # Set by `submit` on the job it starts: overrides carrying secrets arrive beside the job, not as --set.
    dataset.add_argument("--shipped-overrides", action="store_true", help=argparse.SUPPRESS)
    samples = commands.add_parser("sample-corpus", help="write the built-in sample PDFs to a folder")
    samples.add_argument("dir", type=Path)
    view = commands.add_parser("view", help="write an HTML view of an output folder beside it (FOLDER.view/)")
    view.add_argument("folder", type=Path, help="output folder of a run")
    view.add_argument("--per-page", type=int, default=20, help="examples per HTML page")
    push = commands.add_parser(
        "push", help="publish an output folder to the Hugging Face Hub (token: HF_TOKEN or `hf auth login`)"
    )
    push.add_argument("folder", type=Path, help="output folder of a run")
    push.add_argument("--repo", required=True, help="dataset repo id, <user or org>/<name>; created if missing")
    push.add_argument("--public", action="store_true", help="create the repo public (default: private)")
    push.add_argument("--revision", default="main", help="branch to push to; created if missing")
    push.add_argument("--overwrite", action="store_true", help="replace a repo that holds files docqa did not push")
    args = parser.parse_args(argv)

    if args.command == "sample-corpus":
        from docqa.demo.corpus import write_sample_corpus

        for path in write_sample_corpus(args.dir):
            print(path)
        return 0

    if args.command == "view":
        from docqa.output.view import write_view

        try:
            index = write_view(args.folder, args.per_page)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"View written to {index}: open it in a browser")
        return 0

    if args.command == "push":
        from docqa.output.hub import PushError, PushInterrupted, push_dataset

        try:
            result = push_dataset(
                args.folder, args.repo, private=not args.public, revision=args.revision, overwrite=args.overwrite
            )
        except PushInterrupted as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except PushError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"Pushed {args.folder} to {result.url}")
        return 0

    overrides = list(args.set)
    if args.input:
        overrides.append(f"input.paths={json.dumps(args.input)}")
    if args.output:
        overrides.append(f"output.dir={json.dumps(args.output)}")
    if args.overwrite:
        overrides.append("output.overwrite=true")
    if args.command == "dataset" and args.shipped_overrides:
        from docqa.runtime.submit import shipped_overrides

        overrides += shipped_overrides()
    if args.verbose:
        overrides.append("run.verbose=true")
    try:
        config = load_config(args.config, overrides)
        if args.command == "submit":
            from docqa.runtime.submit import submit

            return submit(args.address, args.config, config, overrides)
    except UserError as exc:  # bad input, settings or output: nothing was done, the message says what to fix
        print(f"error: {scrub_urls(str(exc))}", file=sys.stderr)
        return 2
    return build(config)


def build(config) -> int:
    """`dataset`: the run, with Ray's and vLLM's output in the log file unless `run.verbose`."""
    from docqa.output.summary import summary
    from docqa.run import UploadFailed, build_folder, run_pipeline
    from docqa.runtime.console import Console, log_path

    console = Console(None if config.run.verbose else log_path(build_folder(config)))
    try:
        stats = run_pipeline(config, console)
    except UserError as exc:
        print(f"error: {scrub_urls(str(exc))}", file=console.err)
        return 2
    except UploadFailed as exc:
        print(f"error: {scrub_urls(str(exc))}", file=console.err)
        return 1
    except KeyboardInterrupt:
        print("interrupted: what finished is kept; run the same command again to resume", file=console.err)
        return 130
    except Exception as exc:
        fault = systemic_fault_in(exc)
        if fault is not None:  # one line says what to fix; Ray appends its retry advice on further lines
            if console.started:
                traceback.print_exc()  # into the log
            print(f"error: {scrub_urls(str(fault).splitlines()[0])}", file=console.err)
            return 3
        if not console.started:
            raise
        traceback.print_exc()  # into the log, for whoever debugs it
        first_line = scrub_urls((str(exc).strip().splitlines() or [""])[0])
        print(f"error: the run stopped ({type(exc).__name__}: {first_line}); details in {console.log}", file=console.err)
        return 1
    print(summary(stats, safe_location(config.output.dir), console.log), file=console.out)
    return 0


if __name__ == "__main__":  # vLLM on CPU spawns processes: the entry point must be guarded
    sys.exit(main())
