"""BSN.cloud access tokens from bsn-credential-helper, for Python (standard library only).

``pip install bsn-credential-helper`` brings this module and the helper binary together; the
module also works on its own (Python 3.8+) with the binary installed another way. It runs the
helper with a protocol v1 request on stdin (see protocol.md), so every process on the machine
shares one cached token and one refresh.

    from bsn_credential_helper import get_token, request

    token = get_token()                       # str, valid for at least min_ttl seconds
    r = request("GET", "https://api.bsn.cloud/2022/06/REST/Self/Session")
    print(r.status, r.json())

The binary is $BSN_CREDENTIAL_HELPER, else the one this package's wheel installed (in the
interpreter's scripts directory), else `bsn-credential-helper` on PATH; see find_binary().
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
from email.message import Message
from typing import Any, Dict, List, Mapping, Optional, Tuple, TypedDict, cast

__all__ = [
    "CredentialHelperError",
    "Response",
    "TokenResponse",
    "find_binary",
    "get_token",
    "get_token_response",
    "request",
]

BINARY_NAME = "bsn-credential-helper"
DEFAULT_ACCEPT = "application/json, application/vnd.bsn.error+json"
#: Seconds a helper that overran ``timeout`` gets to exit after SIGTERM before it is killed.
#: The helper defers SIGTERM until a rotated refresh token is written, so a renewal that is
#: nearly done still saves its one-time refresh token.
TERMINATE_GRACE = 2.0


class TokenResponse(TypedDict, total=False):
    """The helper's success answer (protocol.md); readers must accept fields not listed."""

    version: int
    profile: str
    token_type: str
    access_token: str
    expires_at: str
    expires_in: int
    network: Optional[str]
    scope: Optional[str]
    source: str
    warning: str


class CredentialHelperError(Exception):
    """The helper could not hand out a token.

    ``code`` is the stable protocol error code ("config", "invalid_credentials", "network",
    ... see protocol.md), or "not_installed" / "timeout" / "internal" from this module;
    ``exit_status`` is the helper's exit code when it exited. The message is for humans and
    never contains a secret.
    """

    def __init__(self, code: str, message: str, exit_status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_status = exit_status

    def __str__(self) -> str:
        return "{} ({})".format(self.message, self.code)


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _wheel_binary_dirs() -> List[str]:
    """Where a wheel of this package puts its binary: the scripts directory of the scheme
    it was installed with (a venv's bin/, the interpreter's, ``--user``), or ``bin/`` beside
    a ``pip install --target`` directory."""
    dirs = []  # type: List[str]
    schemes = [None]  # type: List[Optional[str]]
    user = "nt_user" if os.name == "nt" else "posix_user"
    if sys.platform == "darwin" and "osx_framework_user" in sysconfig.get_scheme_names():
        user = "osx_framework_user"
    schemes.append(user)
    for scheme in schemes:
        try:
            path = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:  # pragma: no cover - unknown scheme on an exotic platform
            continue
        if path and path not in dirs:
            dirs.append(path)
    target = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")
    if target not in dirs:
        dirs.append(target)
    return dirs


def find_binary() -> str:
    """The helper binary this module runs.

    1. ``$BSN_CREDENTIAL_HELPER``, when set;
    2. the binary installed by this package's wheel (``pip install bsn-credential-helper``),
       found in the interpreter's scripts directory (``sysconfig.get_path("scripts")``),
       the user scripts directory, or ``bin/`` beside a ``--target`` install;
    3. ``bsn-credential-helper`` on ``PATH``.

    Raises CredentialHelperError("not_installed") when none exists.
    """
    configured = os.environ.get("BSN_CREDENTIAL_HELPER")
    if configured:
        return configured
    exe = BINARY_NAME + (".exe" if os.name == "nt" else "")
    for d in _wheel_binary_dirs():
        candidate = os.path.join(d, exe)
        if _executable(candidate):
            return candidate
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return on_path
    raise CredentialHelperError(
        "not_installed",
        "bsn-credential-helper is not installed: `pip install bsn-credential-helper` brings "
        "it, or put it on PATH, or set BSN_CREDENTIAL_HELPER",
    )


def _stop(proc: "subprocess.Popen[bytes]", grace: float) -> None:
    """Asks the helper to stop (SIGTERM, which it defers until a rotated refresh token is
    saved), waits up to ``grace`` seconds, then kills it."""
    try:
        if os.name == "nt":
            proc.kill()  # pragma: no cover - no SIGTERM to defer on Windows
        else:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    except OSError:  # pragma: no cover - already gone
        pass
    proc.kill()
    proc.communicate()


def _run(
    argv: List[str], stdin: bytes, timeout: Optional[float], grace: float
) -> Tuple[int, bytes, bytes]:
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as e:
        raise CredentialHelperError(
            "not_installed", "cannot run bsn-credential-helper ({}): {}".format(argv[0], e)
        )
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc, grace)
        raise CredentialHelperError(
            "timeout",
            "bsn-credential-helper did not answer within {:g} s; it was stopped".format(timeout or 0),
        )
    except BaseException:
        # KeyboardInterrupt and the like: do not leave the helper behind unattended.
        _stop(proc, grace)
        raise
    return proc.returncode, stdout, stderr


def get_token_response(
    profile: Optional[str] = None,
    min_ttl: Optional[int] = None,
    rejected_token: Optional[str] = None,
    force_refresh: bool = False,
    timeout: Optional[float] = None,
    terminate_grace: float = TERMINATE_GRACE,
) -> TokenResponse:
    """The helper's whole success answer as a dict (access_token, expires_at, expires_in,
    network, source, ...). Raises CredentialHelperError on failure.

    ``timeout`` (seconds, default none: the helper's own BSN_TIMEOUT and BSN_LOCK_TIMEOUT
    bound it) gives up on a helper that has not answered: it gets SIGTERM, then
    ``terminate_grace`` seconds to exit, then SIGKILL; the error's code is "timeout"."""
    req = {"version": 1}  # type: Dict[str, Any]
    if profile is not None:
        req["profile"] = profile
    if min_ttl is not None:
        req["min_ttl"] = int(min_ttl)
    if rejected_token is not None:
        req["rejected_token"] = rejected_token
    if force_refresh:
        req["force_refresh"] = True
    status, stdout, stderr = _run(
        [find_binary(), "get"], json.dumps(req).encode("utf-8"), timeout, terminate_grace
    )
    try:
        answer = json.loads(stdout.decode("utf-8"))
    except ValueError:
        message = stderr.decode("utf-8", "replace").strip()
        raise CredentialHelperError(
            "internal",
            "bsn-credential-helper gave no protocol answer (exit {}): {}".format(
                status, message or "no message"),
            status,
        )
    error = answer.get("error") if isinstance(answer, dict) else None
    if error or status != 0 or not isinstance(answer, dict) or "access_token" not in answer:
        if not isinstance(error, dict):
            error = {}
        raise CredentialHelperError(
            str(error.get("code", "internal")),
            str(error.get("message", "bsn-credential-helper failed (exit {})".format(status))),
            status,
        )
    return cast(TokenResponse, answer)


def get_token(
    profile: Optional[str] = None,
    min_ttl: Optional[int] = None,
    rejected_token: Optional[str] = None,
    force_refresh: bool = False,
    timeout: Optional[float] = None,
) -> str:
    """An access token (str) valid for at least min_ttl seconds (helper default: 60).

    Pass ``rejected_token`` after an API answered 401/403 to it: that token is never handed
    out again, and concurrent callers reporting the same token cause one renewal."""
    answer = get_token_response(profile, min_ttl, rejected_token, force_refresh, timeout)
    return answer["access_token"]


class Response:
    """An HTTP answer of any status: ``status``, ``headers``, ``body`` (bytes), ``json()``,
    and ``retried`` (True when a 401/403 made ``request`` renew the token and try again)."""

    def __init__(self, status: int, headers: Message, body: bytes, url: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.retried = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def __repr__(self) -> str:
        return "<Response {} {}>".format(self.status, self.url)


def _send(
    method: str,
    url: str,
    token: str,
    data: Optional[bytes],
    headers: Optional[Mapping[str, str]],
    timeout: Optional[float],
) -> Response:
    h = {"Accept": DEFAULT_ACCEPT}
    h.update(headers or {})
    h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, r.headers, r.read(), url)
    except urllib.error.HTTPError as e:
        try:
            body = e.read()
        finally:
            e.close()
        return Response(e.code, e.headers, body, url)


def request(
    method: str,
    url: str,
    data: Optional[bytes] = None,
    json_body: Any = None,
    headers: Optional[Mapping[str, str]] = None,
    profile: Optional[str] = None,
    min_ttl: Optional[int] = None,
    timeout: Optional[float] = 30,
) -> Response:
    """Sends one request with a bearer token. On 401 or 403 it reports the token as rejected,
    gets a renewed one and retries once. Returns a Response for every HTTP status; network
    errors raise urllib.error.URLError, helper failures CredentialHelperError. ``timeout``
    bounds each HTTP exchange."""
    if json_body is not None:
        data = json.dumps(json_body).encode("utf-8")
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
    token = get_token(profile=profile, min_ttl=min_ttl)
    response = _send(method, url, token, data, headers, timeout)
    if response.status in (401, 403):
        retry_token = get_token(profile=profile, min_ttl=min_ttl, rejected_token=token)
        response = _send(method, url, retry_token, data, headers, timeout)
        response.retried = True
    return response
