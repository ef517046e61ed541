"""The one exception the entrypoint turns into a message and an exit code."""

from __future__ import annotations

EXIT_SETUP = 1
"""Exit code for a container that cannot be set up (secrets, config, health server)."""

EXIT_USAGE = 2
"""Exit code for a missing or unknown role."""

EXIT_NOT_FOUND = 127
"""Exit code when the program to exec (``condor_master``) cannot be found."""


class RoleSetupError(Exception):
    """A problem that stops the container from starting; the message names the problem.

    Messages never contain secret values, only file names, paths and variable names.
    """

    def __init__(self, message: str, exit_code: int = EXIT_SETUP) -> None:
        super().__init__(message)
        self.exit_code = exit_code
