"""What every ``htcmesos`` command group shares: exit codes, loading the spec, errors as
one line with the right code.

Exit codes: 0 success, 1 runtime failure, 2 invalid input (spec, arguments, a request the
other side refuses as invalid or htcmesos refuses for safety).
"""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator

import click

from .errors import HtcmesosError, SpecError
from .spec import ClusterSpec, load_spec

log = logging.getLogger("htcmesos")

EXIT_RUNTIME, EXIT_INVALID = 1, 2


def fail(message: str, code: int) -> None:
    """``error: <message>`` on stderr, then exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load(spec_path: str) -> ClusterSpec:
    """The validated spec, or every problem on stderr and exit 2."""
    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        click.echo(exc.report(), err=True)
        sys.exit(EXIT_INVALID)
    log.debug("loaded spec %s: pool %s, %d site(s)", spec_path, spec.pool.name, len(spec.sites))
    return spec


@contextmanager
def reasons(invalid: tuple[type[Exception], ...],
            runtime: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Errors of the ``invalid`` kinds exit 2, the ``runtime`` ones and any other
    htcmesos error exit 1; each as one line."""
    try:
        yield
    except invalid as exc:
        fail(str(exc), EXIT_INVALID)
    except (*runtime, HtcmesosError) as exc:
        fail(str(exc), EXIT_RUNTIME)
