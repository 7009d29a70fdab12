"""The argument parser of `zoo`: the global options, then one sub-parser per command,
each built by its command's own `add_<command>` function."""

from __future__ import annotations

import argparse
import functools

from zoo.cli.commands import COMMANDS


class HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help when it has a default worth showing
    (not None, not the False of a flag, not already in the text)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        hidden = default is None or default is False or default == argparse.SUPPRESS
        if hidden or "default" in text or not action.option_strings:
            return text
        shown = ",".join(str(v) for v in default) if isinstance(default, (tuple, list)) else default
        return f"{text} (default: {shown})"


def _add_global_options(parser, default):
    """--verbose, accepted before the command (`zoo --verbose eval`) and after it."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="show TensorFlow's log lines (hidden by default)")


def build_parser() -> argparse.ArgumentParser:
    """The `zoo` parser; `.commands` maps each command name to its sub-parser."""
    parser = argparse.ArgumentParser(
        prog="zoo", formatter_class=HelpFormatter,
        description="Pretrained Variational Autoencoders for Keras 3. `zoo COMMAND --help` describes a command.",
        epilog="Exit status: 0 success, 1 a runtime failure (bad preset, missing data, ...), 2 a usage error.")
    _add_global_options(parser, default=False)
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a sub-parser that does not see the flag leaves the top level's value alone.
    _add_global_options(common, default=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True,
        parser_class=functools.partial(argparse.ArgumentParser, formatter_class=HelpFormatter, parents=[common]))
    parser.commands = {}
    for name, (add, run) in COMMANDS.items():
        command_parser = add(subparsers)
        command_parser.set_defaults(run=run)
        parser.commands[name] = command_parser
    return parser
