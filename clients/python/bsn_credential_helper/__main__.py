"""`python -m bsn_credential_helper ARGS...` runs the helper binary with ARGS (the same
binary the module uses: see find_binary()), e.g. `python -m bsn_credential_helper token`."""

import os
import subprocess
import sys

from . import CredentialHelperError, find_binary


def main() -> int:
    try:
        binary = find_binary()
    except CredentialHelperError as e:
        print("bsn-credential-helper: error: {}".format(e.message), file=sys.stderr)
        return 127
    argv = [binary] + sys.argv[1:]
    if os.name == "nt":  # pragma: no cover - no exec on Windows
        return subprocess.call(argv)
    os.execv(binary, argv)
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
