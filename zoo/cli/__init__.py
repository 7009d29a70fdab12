"""The `zoo` command line: thin wrappers over the library.

    zoo --help                  # the commands
    zoo COMMAND --help          # one command, its options and their defaults

Parsing imports no TensorFlow, so `--help` and usage errors answer at once; a
command imports what it needs when it runs. TensorFlow's own log lines are hidden
unless `--verbose` is given.

Exit codes: 0 success, 1 a runtime failure (bad preset, missing data, ...),
2 a usage error (a bad argument, reported before any work is done).

oneDNN: unless you set TF_ENABLE_ONEDNN_OPTS yourself, a command runs with
TensorFlow's oneDNN kernels on (`ONEDNN_DEFAULT`). TensorFlow turns them on by itself
only on some CPUs (AVX-512 ones). `vae_mnist` trained with them 1.27x faster on an
AVX2 EPYC (2,942 against 2,314 images/s: benchmarks/training_throughput_avx2*.md, a
busy machine) and 1.72x on an idle AVX-512 one, as `zoo train` runs it (4,233 against
2,461: benchmarks/training_throughput.md and training_throughput_onednn_off.md).
Results differ from TensorFlow's own kernels in the last float bits; model cards
record the setting. `TF_ENABLE_ONEDNN_OPTS=0 zoo ...` turns them off.
"""

from __future__ import annotations

import os
import sys

from zoo.cli.arguments import UsageError
from zoo.cli.parser import build_parser


def main(argv=None) -> int:
    """Runs `zoo` with `argv` (default: the process's arguments); returns the exit code.

    Args:
        argv: the arguments after the program name, e.g. ["list"].
    Raises:
        SystemExit: code 0 for --help, 2 for a usage error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    use_onednn_by_default()
    from zoo.cli import logs

    with logs.quiet(args.verbose):
        try:
            return args.run(args)
        except UsageError as e:
            parser.commands[args.command].error(str(e))
        except Exception as e:  # noqa: BLE001 - narrowed just below
            if not isinstance(e, _runtime_errors()):
                raise
            print(f"zoo {args.command}: error: {e}", file=sys.stderr)
            return 1


# TF_ENABLE_ONEDNN_OPTS for commands when the user has not set it (see the module docstring).
ONEDNN_DEFAULT = "1"


def use_onednn_by_default() -> None:
    """Sets TF_ENABLE_ONEDNN_OPTS to `ONEDNN_DEFAULT` unless the user set it, and only
    before TensorFlow starts (TensorFlow reads it once, when it loads)."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", ONEDNN_DEFAULT)


def _runtime_errors() -> tuple:
    """The errors a command reports in one line (exit 1) rather than a traceback.

    Imported only once one was raised: most of these modules import TensorFlow,
    which commands such as `zoo data` never need.
    """
    from zoo.callbacks import NonFiniteLossError
    from zoo.data import DataSourceError
    from zoo.presets import PresetError
    from zoo.validation import InputError

    return PresetError, DataSourceError, InputError, NonFiniteLossError, ValueError, FileNotFoundError


__all__ = ["build_parser", "main"]
