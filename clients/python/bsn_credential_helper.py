"""BSN.cloud access tokens from bsn-credential-helper, for Python (standard library only).

Copy this file next to your code (Python 3.8+). It runs the helper binary with a protocol v1
request on stdin (see protocol.md), so every process on the machine shares one cached token
and one refresh.

    from bsn_credential_helper import get_token, request

    token = get_token()                       # str, valid for at least min_ttl seconds
    r = request("GET", "https://api.bsn.cloud/2022/06/REST/Self/Session")
    print(r.status, r.json())

The binary is $BSN_CREDENTIAL_HELPER, else `bsn-credential-helper` on PATH.
"""

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

__all__ = ["CredentialHelperError", "Response", "get_token", "get_token_response", "request"]

DEFAULT_ACCEPT = "application/json, application/vnd.bsn.error+json"


class CredentialHelperError(Exception):
    """The helper could not hand out a token.

    ``code`` is the stable protocol error code ("config", "invalid_credentials", "network",
    ... see protocol.md), ``exit_status`` the helper's exit code; the message is for humans
    and never contains a secret.
    """

    def __init__(self, code, message, exit_status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_status = exit_status

    def __str__(self):
        return "{} ({})".format(self.message, self.code)


def _binary():
    path = os.environ.get("BSN_CREDENTIAL_HELPER") or shutil.which("bsn-credential-helper")
    if not path:
        raise CredentialHelperError(
            "not_installed",
            "bsn-credential-helper is not on PATH; install it or set BSN_CREDENTIAL_HELPER",
        )
    return path


def get_token_response(profile=None, min_ttl=None, rejected_token=None, force_refresh=False,
                       timeout=None):
    """The helper's whole success answer as a dict (access_token, expires_at, expires_in,
    network, source, ...). Raises CredentialHelperError on failure."""
    req = {"version": 1}
    if profile is not None:
        req["profile"] = profile
    if min_ttl is not None:
        req["min_ttl"] = int(min_ttl)
    if rejected_token is not None:
        req["rejected_token"] = rejected_token
    if force_refresh:
        req["force_refresh"] = True
    try:
        proc = subprocess.run(
            [_binary(), "get"],
            input=json.dumps(req).encode("utf-8"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except OSError as e:
        raise CredentialHelperError("not_installed", "cannot run bsn-credential-helper: {}".format(e))
    except subprocess.TimeoutExpired:
        raise CredentialHelperError("timeout", "bsn-credential-helper did not answer in time")
    try:
        answer = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise CredentialHelperError(
            "internal",
            "bsn-credential-helper gave no protocol answer (exit {}): {}".format(
                proc.returncode, stderr or "no message"),
            proc.returncode,
        )
    error = answer.get("error") if isinstance(answer, dict) else None
    if error or proc.returncode != 0 or "access_token" not in answer:
        error = error or {}
        raise CredentialHelperError(
            error.get("code", "internal"),
            error.get("message", "bsn-credential-helper failed (exit {})".format(proc.returncode)),
            proc.returncode,
        )
    return answer


def get_token(profile=None, min_ttl=None, rejected_token=None, force_refresh=False, timeout=None):
    """An access token (str) valid for at least min_ttl seconds (helper default: 60).

    Pass ``rejected_token`` after an API answered 401/403 to it: that token is never handed
    out again, and concurrent callers reporting the same token cause one renewal."""
    return get_token_response(profile, min_ttl, rejected_token, force_refresh, timeout)["access_token"]


class Response:
    """An HTTP answer of any status: ``status``, ``headers``, ``body`` (bytes), ``json()``."""

    def __init__(self, status, headers, body, url):
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    @property
    def ok(self):
        return 200 <= self.status < 300

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def __repr__(self):
        return "<Response {} {}>".format(self.status, self.url)


def _send(method, url, token, data, headers, timeout):
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


def request(method, url, data=None, json_body=None, headers=None, profile=None, min_ttl=None,
            timeout=30):
    """Sends one request with a bearer token. On 401 or 403 it reports the token as rejected,
    gets a renewed one and retries once. Returns a Response for every HTTP status; network
    errors raise urllib.error.URLError, helper failures CredentialHelperError."""
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
    else:
        response.retried = False
    return response
