"""Command-line face of the generator: ``rhip synth`` arguments and runner."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from rhip.synth.engine import FORMATS, generate, normalise_formats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rhip synth`` options to ``parser``."""
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed → same bytes); default 42")
    parser.add_argument(
        "--residents", type=int, default=10000, help="residents at the start of the window; default 10000"
    )
    parser.add_argument("--years", type=int, default=3, help="simulated years, ending 2025-12-31; default 3")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        default=None,
        metavar="FORMAT",
        help=f"output format, repeatable or comma-separated: {'|'.join(FORMATS)}; default fhir-ndjson",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=0.10,
        help="share of facility registrations carrying identity errors; default 0.10",
    )


def run(args: argparse.Namespace) -> int:
    """Run the generator; prints the counts as JSON; returns the exit status."""
    try:
        formats = normalise_formats(args.formats or ["fhir-ndjson"])
        counts = generate(
            seed=args.seed,
            residents=args.residents,
            years=args.years,
            out=args.out,
            formats=formats,
            noise=getattr(args, "noise", 0.10),
        )
    except (ValueError, OSError) as exc:
        print(f"rhip synth: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(orjson.dumps(counts, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m rhip.synth``)."""
    parser = argparse.ArgumentParser(prog="rhip synth", description="Generate a synthetic Chinese county region.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
