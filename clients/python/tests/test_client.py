"""The Python client against the helper's built-in emulator, through whatever
`bsn_credential_helper` this interpreter imports.

.ci/client-packages runs this file with a venv's python into which only the wheel was
installed, with BSN_TEST_INSTALLED=1: then the module must come from that venv's
site-packages and the binary from its scripts directory, and nothing else is on PATH.
Without BSN_TEST_INSTALLED (a source checkout: PYTHONPATH=clients/python and
BSN_CREDENTIAL_HELPER=target/release/bsn-credential-helper) the install checks are skipped.

    python -m unittest discover -s clients/python/tests -v
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import unittest
import urllib.request

import bsn_credential_helper as bsn
from bsn_credential_helper import CredentialHelperError, get_token, get_token_response, request

INSTALLED = os.environ.get("BSN_TEST_INSTALLED") == "1"
# The variables each test sets; anything of the caller's is set aside.
OWN_VARS = ("BSN_", "BS_")


class Emulator:
    """`bsn-credential-helper emulator` on a loopback port, as a child process."""

    def __init__(self, binary, port=0):
        self.binary = binary
        self.proc = subprocess.Popen(
            [binary, "emulator", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.proc.stdout.readline()
        prefix = "BSN.cloud emulator listening on "
        if not first.startswith(prefix):
            self.stop()
            raise RuntimeError("the emulator did not start: {!r}".format(first))
        self.base = first[len(prefix):].split()[0]
        self.port = int(self.base.rsplit(":", 1)[1])

    @property
    def token_url(self):
        return self.base + "/realms/bsncloud/protocol/openid-connect/token"

    def stats(self):
        with urllib.request.urlopen(self.base + "/stats", timeout=5) as r:
            return json.loads(r.read())

    def inject(self, fault):
        req = urllib.request.Request(
            self.base + "/admin/faults", data=json.dumps(fault).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.saved_env = dict(os.environ)
        for k in list(os.environ):
            if k.startswith(OWN_VARS) and k not in ("BSN_CREDENTIAL_HELPER", "BSN_TEST_INSTALLED"):
                del os.environ[k]
        self.tmp = tempfile.mkdtemp(prefix="bsn-client-test.")
        os.environ["HOME"] = self.tmp
        os.environ["XDG_CONFIG_HOME"] = os.path.join(self.tmp, "config")
        os.environ["BSN_CACHE_DIR"] = os.path.join(self.tmp, "cache")
        self.binary = bsn.find_binary()
        self.emu = Emulator(self.binary)
        self.configure(self.emu)

    def configure(self, emu):
        os.environ.update({
            "BSN_TOKEN_URL": emu.token_url,
            "BSN_API_URL": emu.base,
            "BSN_CLIENT_ID": "demo-client",
            "BSN_CLIENT_SECRET": "demo-secret",
            "BSN_NETWORK": "Demo",
        })

    def password_grant(self):
        os.environ.update({
            "BSN_GRANT": "password",
            "BSN_USERNAME": "demo@example.com",
            "BSN_PASSWORD": "demo-password",
        })

    def tearDown(self):
        self.emu.stop()
        os.environ.clear()
        os.environ.update(self.saved_env)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def restart_emulator(self):
        """A new emulator on the same port: it knows none of the tokens handed out so far."""
        port = self.emu.port
        self.emu.stop()
        self.emu = Emulator(self.binary, port)
        self.configure(self.emu)

    def fake_helper(self, script):
        path = os.path.join(self.tmp, "fake-helper")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script + "\n")
        os.chmod(path, stat.S_IRWXU)
        return path


@unittest.skipUnless(INSTALLED, "BSN_TEST_INSTALLED=1 is not set (not run from an installed wheel)")
class InstalledWheel(ClientTest):
    def test_module_and_binary_come_from_the_wheel(self):
        self.assertNotIn("BSN_CREDENTIAL_HELPER", os.environ)
        module_dir = os.path.dirname(os.path.abspath(bsn.__file__))
        purelib = os.path.realpath(sysconfig.get_path("purelib"))
        platlib = os.path.realpath(sysconfig.get_path("platlib"))
        self.assertIn(os.path.dirname(os.path.realpath(module_dir)), (purelib, platlib))
        self.assertTrue(os.path.realpath(sys.prefix) != os.path.realpath(sys.base_prefix),
                        "not a venv")
        self.assertTrue(os.path.isfile(os.path.join(module_dir, "py.typed")), "py.typed")
        scripts = sysconfig.get_path("scripts")
        self.assertEqual(self.binary, os.path.join(scripts, "bsn-credential-helper"))
        self.assertIsNone(shutil.which("bsn-credential-helper", path=os.environ.get("PATH", "")),
                          "the test runs with no helper on PATH")
        from importlib.metadata import version
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=True)
        self.assertTrue(out.stdout.startswith("bsn-credential-helper {} (".format(
            version("bsn-credential-helper"))), out.stdout)

    def test_the_wheel_binary_comes_before_path_and_the_variable_before_both(self):
        decoy_dir = os.path.join(self.tmp, "decoy")
        os.mkdir(decoy_dir)
        decoy = os.path.join(decoy_dir, "bsn-credential-helper")
        with open(decoy, "w") as f:
            f.write("#!/bin/sh\nexit 99\n")
        os.chmod(decoy, stat.S_IRWXU)
        os.environ["PATH"] = decoy_dir + os.pathsep + os.environ.get("PATH", "")
        self.assertEqual(bsn.find_binary(), self.binary)
        self.assertTrue(get_token())
        os.environ["BSN_CREDENTIAL_HELPER"] = decoy
        self.assertEqual(bsn.find_binary(), decoy)

    def test_python_m_runs_the_wheel_binary(self):
        run = lambda *args: subprocess.run(  # noqa: E731
            [sys.executable, "-m", "bsn_credential_helper"] + list(args),
            capture_output=True, text=True, stdin=subprocess.DEVNULL)
        direct = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        self.assertEqual(run("--version").stdout, direct.stdout)
        token = run("token")
        self.assertEqual(token.returncode, 0, token.stderr)
        self.assertEqual(token.stdout.strip(), get_token())
        failed = run("--profile", "no-such-profile", "token")
        self.assertEqual(failed.returncode, 3, failed.stderr)


class AgainstTheEmulator(ClientTest):
    def test_one_login_then_the_cache(self):
        first = get_token_response()
        self.assertEqual(first["source"], "login")
        self.assertEqual(first["network"], "Demo")
        second = get_token_response(min_ttl=30)
        self.assertEqual(second["source"], "cache")
        self.assertEqual(second["access_token"], first["access_token"])
        self.assertEqual(get_token(), first["access_token"])
        stats = self.emu.stats()
        self.assertEqual(stats["token_requests"]["client_credentials"], 1, stats)

    def test_request_retries_once_after_a_401_with_rejected_token(self):
        url = self.emu.base + "/2022/06/REST/Self/Session"
        r = request("GET", url)
        self.assertEqual(r.status, 200, r.body)
        self.assertFalse(r.retried)
        self.assertEqual(r.json()["network"]["name"], "Demo")
        before = get_token()

        self.restart_emulator()  # forgets every token: the cached one now gets 401
        r = request("GET", url)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.retried)
        after = get_token()
        self.assertNotEqual(after, before)
        stats = self.emu.stats()
        self.assertEqual(stats["api_unauthorized"], 1, stats)
        self.assertEqual(stats["token_requests"]["client_credentials"], 1, stats)
        # The rejected token is never handed out again.
        self.assertEqual(get_token(rejected_token=before), after)

    def test_error_codes_and_exit_statuses(self):
        def error(**kw):
            with self.assertRaises(CredentialHelperError) as cm:
                get_token(**kw)
            return cm.exception

        e = error(profile="no-such-profile")
        self.assertEqual((e.code, e.exit_status), ("config", 3), str(e))

        os.environ["BSN_CLIENT_SECRET"] = "wrong-secret"
        e = error()
        self.assertEqual((e.code, e.exit_status), ("invalid_credentials", 4), str(e))
        self.assertNotIn("wrong-secret", str(e))

        os.environ["BSN_CLIENT_SECRET"] = "demo-secret"
        self.emu.stop()  # nothing listens on the token URL's port any more
        e = error()
        self.assertEqual((e.code, e.exit_status), ("network", 6), str(e))

        os.environ["BSN_CREDENTIAL_HELPER"] = os.path.join(self.tmp, "no-such-binary")
        e = error()
        self.assertEqual(e.code, "not_installed", str(e))
        self.assertIsNone(e.exit_status)

        os.environ["BSN_CREDENTIAL_HELPER"] = self.fake_helper("echo oops >&2; exit 1")
        e = error()
        self.assertEqual((e.code, e.exit_status), ("internal", 1), str(e))
        self.assertIn("oops", str(e))

    def test_timeout_mid_refresh_presents_no_refresh_token_twice(self):
        """The client's timeout lands while the helper waits for a slow token endpoint: the
        helper gets SIGTERM, which it holds until the rotated refresh token is written, so
        the next renewal uses the new refresh token. (Python's own subprocess timeout sends
        SIGKILL, which loses the rotated token: the next refresh presents the spent one.)"""
        self.password_grant()
        first = get_token_response()
        self.assertEqual(first["source"], "login")
        rounds = (600, 1000, 1400)
        for delay_ms in rounds:
            self.emu.inject({"kind": "slow", "delay_ms": delay_ms})
            started = time.monotonic()
            with self.assertRaises(CredentialHelperError) as cm:
                get_token(force_refresh=True, timeout=0.25)
            elapsed = time.monotonic() - started
            self.assertEqual(cm.exception.code, "timeout", str(cm.exception))
            # The helper exits once the refresh is saved, well within the grace period.
            self.assertLess(elapsed, delay_ms / 1000 + 1.0, "delay {} ms".format(delay_ms))
            renewed = get_token_response(force_refresh=True)
            stats = self.emu.stats()
            self.assertEqual(stats["refresh_tokens_reused"], 0, stats)
            self.assertEqual(renewed["source"], "refresh", renewed)
        stats = self.emu.stats()
        self.assertEqual(stats["refresh_tokens_reused"], 0, stats)
        self.assertEqual(stats["sessions_ended_by_reuse"], 0, stats)
        self.assertEqual(stats["token_requests"]["password"], 1, stats)
        self.assertEqual(stats["token_requests"]["refresh_token"], 2 * len(rounds), stats)

    def test_timeout_past_the_grace_kills_mid_refresh_and_still_presents_nothing_twice(self):
        """A refresh slower than the grace period: the helper is SIGKILLed while the token
        endpoint holds its refresh token. The helper recorded that token as spent before
        sending it, so the next renewal logs in instead of presenting it again."""
        self.password_grant()
        get_token_response()
        self.emu.inject({"kind": "slow", "delay_ms": 3000})
        with self.assertRaises(CredentialHelperError) as cm:
            get_token_response(force_refresh=True, timeout=0.25, terminate_grace=0.5)
        self.assertEqual(cm.exception.code, "timeout", str(cm.exception))
        time.sleep(3.2)  # the endpoint finishes the request it held, rotating the token
        renewed = get_token_response(force_refresh=True)
        self.assertEqual(renewed["source"], "login", renewed)
        stats = self.emu.stats()
        self.assertEqual(stats["refresh_tokens_reused"], 0, stats)
        self.assertEqual(stats["sessions_ended_by_reuse"], 0, stats)

    def test_timeout_kills_a_helper_that_ignores_sigterm(self):
        pidfile = os.path.join(self.tmp, "pid")
        os.environ["BSN_CREDENTIAL_HELPER"] = self.fake_helper(
            "echo $$ > '{}'; trap '' TERM; exec sleep 30".format(pidfile))
        started = time.monotonic()
        with self.assertRaises(CredentialHelperError) as cm:
            get_token_response(timeout=0.3, terminate_grace=0.5)
        elapsed = time.monotonic() - started
        self.assertEqual(cm.exception.code, "timeout")
        self.assertGreaterEqual(elapsed, 0.75, "SIGTERM was ignored, so the grace was waited")
        self.assertLess(elapsed, 3.0)
        with open(pidfile) as f:
            pid = int(f.read())
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped

    def test_default_grace_is_two_seconds(self):
        self.assertEqual(bsn.TERMINATE_GRACE, 2.0)


if __name__ == "__main__":
    unittest.main()
