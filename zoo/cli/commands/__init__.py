"""The commands of `zoo`, one module per theme; each command is a pair of small
functions, `add_<command>(subparsers)` building its parser and `run_<command>(args)`
doing the work (and importing TensorFlow only then)."""

from zoo.cli.commands import catalog, compression, evaluation, export, pictures, training

# Command name -> (add_parser function, run function), in the order `zoo --help` lists them.
COMMANDS = {**catalog.COMMANDS, **training.COMMANDS, **evaluation.COMMANDS, **pictures.COMMANDS,
            **export.COMMANDS, **compression.COMMANDS}
