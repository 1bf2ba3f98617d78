# Must FAIL `mypy --strict`: proves the installed package's types are precise, not Any.
from bsn_credential_helper import get_token

n: int = get_token()
