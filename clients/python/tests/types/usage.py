# Type-checked by .ci/client-packages with `mypy --strict` against the installed wheel (the
# package's py.typed marker makes mypy use its inline annotations). Not run.
from bsn_credential_helper import (
    CredentialHelperError,
    Response,
    TokenResponse,
    find_binary,
    get_token,
    get_token_response,
    request,
)

token: str = get_token(profile="prod", min_ttl=120, timeout=5.0)
answer: TokenResponse = get_token_response(rejected_token=token, force_refresh=True)
expires_in: int = answer["expires_in"]
network: "str | None" = answer["network"]
binary: str = find_binary()
r: Response = request("GET", "https://api.bsn.cloud/2022/06/REST/Self/Session", json_body={"a": 1})
status: int = r.status
retried: bool = r.retried
ok: bool = r.ok
try:
    get_token()
except CredentialHelperError as e:
    code: str = e.code
    exit_status: "int | None" = e.exit_status
