"""``ivsrt drift``: placeholder, filled in by the drift detector's commit."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stacks", nargs="*", metavar="STACK")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("ivsrt drift: not implemented yet")
