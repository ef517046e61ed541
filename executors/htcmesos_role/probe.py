"""Docker ``HEALTHCHECK`` client: exit 0 when ``GET /health`` answers 200, else 1.

``python3 -m htcmesos_role.probe`` asks ``http://127.0.0.1:$HTCMESOS_HEALTH_PORT/health``
(default port 5000) with urllib and prints the JSON detail.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from typing import Mapping, Optional

DEFAULT_PORT = 5000


def health_url(env: Mapping[str, str]) -> str:
    """The local health URL for the configured ``HTCMESOS_HEALTH_PORT``."""
    return "http://127.0.0.1:%s/health" % (env.get("HTCMESOS_HEALTH_PORT") or DEFAULT_PORT)


def probe(url: str, timeout_s: float = 10.0) -> int:
    """0 if ``url`` answers 200, 1 otherwise; prints the answer or the error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            print(response.read().decode("utf-8", "replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print("HTTP %d: %s" % (exc.code, exc.read().decode("utf-8", "replace")))
    except (urllib.error.URLError, OSError) as exc:
        print("health endpoint %s unreachable: %s" % (url, getattr(exc, "reason", exc)))
    return 1


def main(env: Optional[Mapping[str, str]] = None) -> int:
    """Probe the health endpoint named by ``env`` (default: the process environment)."""
    return probe(health_url(os.environ if env is None else env))


if __name__ == "__main__":
    sys.exit(main())
