"""One module per `nnshape` subcommand; the module `NAME.py` defines the click command `NAME`."""
