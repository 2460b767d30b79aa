"""The installed ``gridlstm`` command's entry point: the process environment first, then the CLI.

OpenMP reads OMP_WAIT_POLICY once, when torch loads its runtime, so it has to be in
``os.environ`` before anything imports torch: passive waiting keeps a busy machine from stalling
every step (gridlstm/threads.py). A policy the user set is kept. This module imports nothing that
imports torch; ``main`` loads the command line only after the environment is set.
"""
from __future__ import annotations

import os


def main() -> None:
    from gridlstm.threads import passive_wait_env

    passive_wait_env(os.environ)
    from .main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
