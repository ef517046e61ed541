"""The operators' view of an htcmesos pool: a Flask app serving the dashboard page
(``/``), the REST API (``/api/v1``, :mod:`.api`), Prometheus metrics (``/metrics``) and
CLUES' routes (``/v1/clues``, :mod:`.clues`), over a :class:`~.source.PoolSource`.

The framework serves it on ``api.listen`` (:class:`framework.api.server.ApiServer`);
``htcmesos dashboard --api URL`` serves it for a framework elsewhere
(:class:`~.remote.RemoteSource`). docs/operators.md tells how to use it.
"""
from __future__ import annotations

from flask import Flask

from .auth import TokenBook
from .source import PoolSource
from .strict import MAX_BODY, StrictHttp, harden, install_errors

ROUTES_HINT = "see / for the dashboard, /api/v1/openapi.json for the API, /metrics"
CLUES_HINT = ("; CLUES: /v1/clues/nodes, /v1/clues/jobs, "
              "/v1/clues/nodes/<node>/poweron|poweroff")


def create_app(source: PoolSource, *, tokens: TokenBook | None = None,
               refresh_s: float = 2.0, timeout_s: float | None = None) -> Flask:
    """The app for ``source``. ``tokens``: who may change the pool (None: nobody, unless
    the source checks tokens itself); ``refresh_s``: seconds between the page's refreshes;
    ``timeout_s``: seconds the page waits for an answer before it says there is none
    (default: five refreshes, at least 10 s)."""
    from . import api, clues, views

    if refresh_s <= 0:
        raise ValueError(f"refresh_s must be > 0, got {refresh_s}")
    if timeout_s is None:
        timeout_s = max(10.0, 5 * refresh_s)
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    app = Flask(__name__, static_folder=None)
    # one byte more than a body may have: json_object tells 64 KiB from more (werkzeug
    # stops a chunked body at the limit without saying whether more was sent)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY + 1, PROVIDE_AUTOMATIC_OPTIONS=False)
    app.extensions["htcmesos.source"] = source
    app.extensions["htcmesos.tokens"] = tokens
    app.extensions["htcmesos.refresh_s"] = float(refresh_s)
    app.extensions["htcmesos.timeout_s"] = float(timeout_s)
    app.register_blueprint(views.blueprint())
    app.register_blueprint(api.blueprint())
    hint = ROUTES_HINT
    if getattr(source, "clues", None) is not None:
        app.register_blueprint(clues.blueprint())
        hint += CLUES_HINT
    app.before_request(clues.check_token)
    app.after_request(harden)
    install_errors(app, hint)
    app.wsgi_app = StrictHttp(app.wsgi_app)  # type: ignore[method-assign]
    return app


__all__ = ["create_app", "TokenBook"]
