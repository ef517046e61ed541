"""Entrypoint of the role containers: ``python3 -m htcmesos_role.entrypoint [ROLE]``.

1. install the mounted secrets (:mod:`.credentials`);
2. write the role's HTCondor config (:mod:`.config`);
3. with ``HTCMESOS_DISCOVERY`` (not on the master): read where the central manager is
   published and start the follower (:mod:`.discovery`) as a detached child process;
4. start the health server (:mod:`.health`) as a detached child process;
5. exec ``condor_master -f`` (or ``HTCMESOS_EXEC``, space-separated, for tests), so the
   master becomes the container's main process and receives its signals.

The role comes from argv or ``HTCMESOS_ROLE``. Errors print one line naming the problem
and exit non-zero (2: role, 1: set-up, 127: nothing to exec). Secret contents are never
printed, only file names.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from . import ROLES
from .config import write_config
from .credentials import BUNDLE_ENV, install_secrets
from .discovery import ENV_DISCOVERY, initial_sync
from .errors import EXIT_NOT_FOUND, EXIT_USAGE, RoleSetupError
from .paths import Paths, paths_from_env

DEFAULT_EXEC = ["condor_master", "-f"]
#: The task id the startd advertises (framework mode sets it; else ``MESOS_TASK_ID``).
TASK_ID_ENV = "HTCMESOS_TASK_ID"
DEFAULT_HEALTH_PORT = 5000
HEALTH_READY_TIMEOUT_S = 5.0
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


def log(message: str) -> None:
    """One line on stderr (the container log)."""
    sys.stderr.write("htcmesos-entrypoint: %s\n" % message)
    sys.stderr.flush()


def resolve_role(args: List[str], env: Mapping[str, str]) -> str:
    """The role from argv (first and only argument) or ``HTCMESOS_ROLE``."""
    if len(args) > 1:
        raise RoleSetupError(
            "expected at most one argument (the role), got %d: %s" % (len(args), " ".join(args)), EXIT_USAGE
        )
    from_env = env.get("HTCMESOS_ROLE", "").strip()
    role = args[0].strip() if args else from_env
    if not role:
        raise RoleSetupError(
            "no role given: pass one of %s as argument or set HTCMESOS_ROLE" % "|".join(ROLES), EXIT_USAGE
        )
    if role not in ROLES:
        raise RoleSetupError("unknown role %r: expected one of %s" % (role, "|".join(ROLES)), EXIT_USAGE)
    if args and from_env and from_env != role:
        log("warning: argument role %s overrides HTCMESOS_ROLE=%s" % (role, from_env))
    return role


def health_port(env: Mapping[str, str]) -> int:
    """``HTCMESOS_HEALTH_PORT`` (default 5000) as a TCP port number."""
    raw = env.get("HTCMESOS_HEALTH_PORT", "").strip() or str(DEFAULT_HEALTH_PORT)
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise RoleSetupError("HTCMESOS_HEALTH_PORT must be a port number 0-65535, got %r" % raw)
    return port


def _child_env(env: Mapping[str, str], role: str, paths: Paths) -> Dict[str, str]:
    child = dict(env)
    child["HTCMESOS_ROLE"] = role
    # The health check is an HTCondor client: it authenticates with the daemons' token
    # (the bindings look only in SEC_TOKEN_DIRECTORY, ~/.condor/tokens.d by default).
    child.setdefault("_CONDOR_SEC_TOKEN_DIRECTORY", str(paths.tokens_dst))
    parts = [p for p in child.get("PYTHONPATH", "").split(os.pathsep) if p]
    if PACKAGE_PARENT not in parts:
        child["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT] + parts)
    return child


def _wait_until_listening(proc: "subprocess.Popen[bytes]", port: int) -> None:
    """Wait until the health server accepts on loopback; fail if it exits first."""
    deadline = time.monotonic() + HEALTH_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise RoleSetupError("health server exited with code %d on port %d (see its message above)" % (code, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    log("warning: health server not answering on 127.0.0.1:%d after %.0f s" % (port, HEALTH_READY_TIMEOUT_S))


def start_health_server(role: str, env: Mapping[str, str], paths: Paths) -> int:
    """Start ``python3 -m htcmesos_role.health`` in a new session; return its PID.

    The PID is also written to ``/run/htcmesos/health.pid`` (below ``HTCMESOS_ROOT``).
    """
    port = health_port(env)
    argv = [sys.executable, "-m", "htcmesos_role.health", "--role", role, "--port", str(port)]
    proc = subprocess.Popen(
        argv, env=_child_env(env, role, paths), stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True
    )
    try:
        paths.health_pid_file.parent.mkdir(parents=True, exist_ok=True)
        paths.health_pid_file.write_text("%d\n" % proc.pid)
        if port:
            _wait_until_listening(proc, port)
    except BaseException:
        _stop(proc.pid)
        raise
    log("health server pid %d on port %d" % (proc.pid, port))
    return proc.pid


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


def start_discovery(role: str, env: Mapping[str, str], paths: Paths) -> Optional[int]:
    """With ``HTCMESOS_DISCOVERY`` (submitter, executor): the published central manager
    now (before the daemons start), then ``python3 -m htcmesos_role.discovery`` in a new
    session; its PID (None: no discovery)."""
    if role == "master" or not env.get(ENV_DISCOVERY, "").strip():
        return None
    try:
        initial_sync(env, paths, log)
    except (ValueError, RuntimeError) as exc:
        raise RoleSetupError(str(exc)) from None
    argv = [sys.executable, "-m", "htcmesos_role.discovery"]
    proc = subprocess.Popen(argv, env=_child_env(env, role, paths), stdin=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)
    paths.discovery_pid_file.parent.mkdir(parents=True, exist_ok=True)
    paths.discovery_pid_file.write_text("%d\n" % proc.pid)
    log("discovery follower pid %d" % proc.pid)
    return proc.pid


def exec_argv(env: Mapping[str, str]) -> List[str]:
    """``HTCMESOS_EXEC`` split like a shell would (tests), else ``condor_master -f``."""
    override = env.get("HTCMESOS_EXEC", "").strip()
    return shlex.split(override) if override else list(DEFAULT_EXEC)


def run(args: List[str], env: Dict[str, str]) -> None:
    """Do steps 1-4; returns only by raising (exec replaces the process)."""
    role = resolve_role(args, env)
    paths = paths_from_env(env)
    log("role %s, root %s" % (role, paths.root))
    # a credential bundle (Marathon mode) never reaches the daemons' environment
    bundle = env.pop(BUNDLE_ENV, "")
    os.environ.pop(BUNDLE_ENV, None)
    install_secrets(paths, role, log, env.get("MESOS_SANDBOX", ""), bundle)
    if not env.get(TASK_ID_ENV) and env.get("MESOS_TASK_ID"):
        # Marathon names its tasks; Mesos hands the id to every task's environment
        env[TASK_ID_ENV] = os.environ[TASK_ID_ENV] = env["MESOS_TASK_ID"]
    write_config(env, paths, log)
    follower_pid = start_discovery(role, env, paths)
    try:
        health_pid = start_health_server(role, env, paths)
    except BaseException:
        if follower_pid is not None:
            _stop(follower_pid)
        raise
    argv = exec_argv(env)
    os.environ["HTCMESOS_ROLE"] = role
    log("exec %s" % " ".join(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        _stop(health_pid)
        if follower_pid is not None:
            _stop(follower_pid)
        code = EXIT_NOT_FOUND if isinstance(exc, FileNotFoundError) else 126
        raise RoleSetupError("cannot exec %s: %s" % (argv[0], exc.strerror), code) from None


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry; returns the exit code when set-up fails."""
    try:
        run(list(sys.argv[1:] if argv is None else argv), dict(os.environ))
    except RoleSetupError as exc:
        log("error: %s" % exc)
        return exc.exit_code
    except OSError as exc:  # e.g. a read-only /etc/condor; name the file, not its contents
        log("error: %s: %s" % (exc.filename or "set-up", exc.strerror or exc))
        return 1
    return 0  # pragma: no cover (only reached if exec is stubbed out)


if __name__ == "__main__":
    sys.exit(main())
