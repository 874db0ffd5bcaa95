"""Backpack Exchange ED25519 request signing (client side) and verification (server side, for the simulator).

Wire format (the Backpack API docs, https://docs.backpack.exchange/, "Signing requests": the "Signature
Generation" section of their OpenAPI document's ``info.description``; the official Rust client
backpack-exchange/bpx-api-client ``client/src/lib.rs``; ccxt 4.5.90 ``backpack.sign()``)::

    instruction=<instruction>&<k1>=<v1>&<k2>=<v2>...&timestamp=<X-Timestamp>&window=<X-Window>

* The parameters are the JSON body's keys (POST/DELETE) or the query parameters (GET), sorted by key
  (code-point order, which is byte order for UTF-8 and what both ``BTreeMap`` and ``sorted`` give).
* Values are rendered as bpx-api-client does it: the value's JSON text with its surrounding quotes removed.
  So a string ``"SOL_USDC_PERP"`` renders as ``SOL_USDC_PERP``, a boolean as ``true``/``false``, an integer
  as its digits (``clientId=123456``), and a nested object or array as its compact JSON text with sorted keys
  (serde_json's default map is a ``BTreeMap``). Values are **not** percent-encoded: ccxt percent-encodes,
  which is identical for every value this bot sends (symbols, decimal strings, enum names, integers).
  Floats, Decimals and ``None`` are refused (:class:`BadValue`): decimals travel as strings in the body, and
  the signature must cover exactly the text that is sent; an absent value is an omitted key.
* No parameters: ``instruction=X&timestamp=T&window=W``. ``window`` is always present (default 5000 ms,
  at most 60000 ms).
* Batch orders (``POST /api/v1/orders``): one ``instruction=orderExecute&<sorted k=v>`` per order, joined
  with ``&``, then ``&timestamp=T&window=W`` once.
* Private WebSocket subscriptions sign ``instruction=subscribe&timestamp=T&window=W`` and send
  ``"signature": [<base64 verifying key>, <base64 signature>, "<T>", "<W>"]`` (all strings).

Headers: ``X-API-Key`` (base64 32-byte ED25519 verifying key), ``X-Signature`` (base64 64-byte signature),
``X-Timestamp`` (unix ms), ``X-Window`` (ms). The vectors in
``tests/fixtures/backpack/backpack_signing_vectors.json`` (checked identical to ccxt) pin all of this.

Crypto library: PyNaCl (libsodium's ``crypto_sign``), chosen over ``cryptography`` because it is already a
declared dependency of this project (``cryptography`` is only present transitively), it is maintained by
PyCA like ``cryptography``, and its ``SigningKey(seed)`` / ``VerifyKey.verify`` map one-to-one onto
Backpack's "32-byte seed, 32-byte verifying key" model.

Secrets: the seed lives only inside :class:`BackpackSigner`; it never appears in a repr, str, log line or
exception text, and the signer refuses to be pickled or copied. The API key (verifying key) is also kept out
of reprs and error texts (the project treats API keys as secrets); a short SHA-256 fingerprint identifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NoReturn

import nacl.exceptions
import nacl.signing

from ...domain import AuthError, BadValue

VENUE: Final = "backpack"

DEFAULT_WINDOW_MS: Final = 5_000
"""``X-Window`` default; it must be signed even when the header is omitted (Backpack docs: signing)."""

MAX_WINDOW_MS: Final = 60_000
"""Largest ``X-Window`` Backpack accepts (Backpack docs: signing, OpenAPI "Signing requests")."""

SUBSCRIBE_INSTRUCTION: Final = "subscribe"
"""Instruction signed for private WebSocket subscriptions (Backpack WS docs, OpenAPI Streams "Private")."""

SEED_BYTES: Final = 32
PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64

# (HTTP method, path) -> instruction. Source: Backpack docs: signing "Instructions"; bpx-api-client lib.rs
# ``build_and_maybe_sign_request``; ccxt 4.5.90 ``backpack.describe()['options']['instructions']``.
ROUTE_INSTRUCTIONS: Final[Mapping[tuple[str, str], str]] = {
    ("GET", "/api/v1/order"): "orderQuery",
    ("POST", "/api/v1/order"): "orderExecute",
    ("DELETE", "/api/v1/order"): "orderCancel",
    ("GET", "/api/v1/orders"): "orderQueryAll",
    ("POST", "/api/v1/orders"): "orderExecute",
    ("DELETE", "/api/v1/orders"): "orderCancelAll",
    ("GET", "/api/v1/position"): "positionQuery",
    ("GET", "/wapi/v1/history/fills"): "fillHistoryQueryAll",
    ("GET", "/wapi/v1/history/orders"): "orderHistoryQueryAll",
    ("GET", "/wapi/v1/history/funding"): "fundingHistoryQueryAll",
    ("GET", "/api/v1/capital"): "balanceQuery",
    ("GET", "/api/v1/capital/collateral"): "collateralQuery",
    ("GET", "/api/v1/account"): "accountQuery",
}

_HEADER_API_KEY: Final = "X-API-Key"
_HEADER_SIGNATURE: Final = "X-Signature"
_HEADER_TIMESTAMP: Final = "X-Timestamp"
_HEADER_WINDOW: Final = "X-Window"

Params = Mapping[str, object]
"""Request parameters as sent: the JSON body object, or the query parameters."""


def instruction_for(method: str, path: str) -> str:
    """The signing instruction for a REST route.

    Args:
        method: HTTP method, any case (``"get"``, ``"POST"``...).
        path: the URL path without host or query (``"/api/v1/order"``); a trailing ``/`` is ignored.

    Returns:
        str: e.g. ``"orderExecute"`` for ``POST /api/v1/order``.

    Raises:
        BadValue: the route is not a signed route this module knows (see :data:`ROUTE_INSTRUCTIONS`).
    """
    key = (method.upper(), path.rstrip("/") or "/")
    try:
        return ROUTE_INSTRUCTIONS[key]
    except KeyError:
        raise BadValue(f"backpack: no signing instruction for {key[0]} {key[1][:80]}") from None


# ---------------------------------------------------------------------------------------------- signing string


def _json_text(value: object, *, what: str) -> str:
    """Compact JSON text of a nested value, as serde_json renders it (sorted keys, no spaces)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, Mapping):
        items = []
        for k in _sorted_keys(value, what=what):
            items.append(f"{_json_string(k)}:{_json_text(value[k], what=f'{what}.{k}')}")
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json_text(v, what=f"{what}[]") for v in value) + "]"
    raise BadValue(f"{what}: {type(value).__name__} cannot be signed (send decimals as strings)")


def _json_string(s: str) -> str:
    # serde_json escapes ", \ and the C0 controls (\b \f \n \r \t by name, the rest as \u00xx); it leaves
    # every other character, including non-ASCII and DEL, as is.
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch < " ":
            out.append(_CONTROL_ESCAPES.get(ch, f"\\u{ord(ch):04x}"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_CONTROL_ESCAPES: Final = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _sorted_keys(mapping: Iterable[object], *, what: str) -> list[str]:
    keys: list[str] = []
    for k in mapping:
        if not isinstance(k, str):
            raise BadValue(f"{what}: parameter names must be strings, got {type(k).__name__}")
        keys.append(k)
    return sorted(keys)


def render_value(value: object, *, what: str = "param") -> str:
    """Render one parameter value for the signing string (bpx-api-client rule: JSON text, quotes stripped).

    Args:
        value: a str, bool, int, or a nested dict/list of those.
        what: a name for error messages.

    Returns:
        str: ``"SOL_USDC_PERP"`` -> ``SOL_USDC_PERP``; ``True`` -> ``true``; ``123456`` -> ``123456``;
        ``{"b": 1, "a": [true]}`` -> ``{"a":[true],"b":1}``.

    Raises:
        BadValue: float, Decimal, None or any other type (decimals must be sent as strings; omit absent keys).
    """
    if value is None:
        raise BadValue(f"{what}: None cannot be signed; omit the key instead")
    if isinstance(value, str):
        return _json_string(value)[1:-1]
    return _json_text(value, what=what)


def _params_text(params: Params, *, what: str) -> str:
    if not isinstance(params, Mapping):
        raise BadValue(f"{what}: parameters must be a mapping, got {type(params).__name__}")
    return "&".join(f"{k}={render_value(params[k], what=f'{what}.{k}')}" for k in _sorted_keys(params, what=what))


def _check_instruction(instruction: str) -> None:
    if not isinstance(instruction, str) or not instruction.isascii() or not instruction.isalnum():
        raise BadValue(f"backpack: instruction {str(instruction)[:40]!r} must be an ASCII identifier")


def _check_timestamp(timestamp_ms: int) -> None:
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms < 0:
        raise BadValue(f"backpack: timestamp_ms {timestamp_ms!r} must be a non-negative int (unix ms)")


def _check_window(window_ms: int) -> None:
    if isinstance(window_ms, bool) or not isinstance(window_ms, int) or not 0 < window_ms <= MAX_WINDOW_MS:
        raise BadValue(f"backpack: window_ms {window_ms!r} must be an int in 1..{MAX_WINDOW_MS}")


def signing_string(
    instruction: str, params: Params | None, *, timestamp_ms: int, window_ms: int = DEFAULT_WINDOW_MS
) -> str:
    """Build the text that is signed for one REST request (Backpack docs: signing).

    Args:
        instruction: e.g. ``"orderExecute"`` (see :func:`instruction_for`).
        params: the JSON body object (POST/DELETE) or the query parameters (GET); None or empty for none.
        timestamp_ms: the ``X-Timestamp`` value, unix ms.
        window_ms: the ``X-Window`` value, ms (1..60000).

    Returns:
        str: ``instruction=<i>&<sorted k=v...>&timestamp=<t>&window=<w>``.

    Raises:
        BadValue: an unsignable value (float, Decimal, None...), a bad instruction, timestamp or window.
    """
    _check_instruction(instruction)
    _check_timestamp(timestamp_ms)
    _check_window(window_ms)
    body = _params_text(params, what=instruction) if params else ""
    middle = f"&{body}" if body else ""
    return f"instruction={instruction}{middle}&timestamp={timestamp_ms}&window={window_ms}"


def batch_signing_string(
    instruction: str, items: Sequence[Params], *, timestamp_ms: int, window_ms: int = DEFAULT_WINDOW_MS
) -> str:
    """The signing string of a batch request (``POST /api/v1/orders``, Backpack docs: signing and the OpenAPI batch
    example).

    Args:
        instruction: ``"orderExecute"``.
        items: the order objects of the JSON array body, in body order (at least one).
        timestamp_ms, window_ms: as for :func:`signing_string`.

    Returns:
        str: ``instruction=orderExecute&<order 1>&instruction=orderExecute&<order 2>...&timestamp=T&window=W``.

    Raises:
        BadValue: an empty batch, or any reason :func:`signing_string` gives.
    """
    _check_instruction(instruction)
    _check_timestamp(timestamp_ms)
    _check_window(window_ms)
    if not isinstance(items, (list, tuple)) or not items:
        raise BadValue("backpack: a batch needs at least one item")
    parts = []
    for i, item in enumerate(items):
        text = _params_text(item, what=f"{instruction}[{i}]")
        parts.append(f"instruction={instruction}&{text}" if text else f"instruction={instruction}")
    return "&".join(parts) + f"&timestamp={timestamp_ms}&window={window_ms}"


def ws_subscribe_signing_string(*, timestamp_ms: int, window_ms: int = DEFAULT_WINDOW_MS) -> str:
    """``instruction=subscribe&timestamp=T&window=W``: what a private WS SUBSCRIBE signs (Backpack WS docs)."""
    return signing_string(SUBSCRIBE_INSTRUCTION, None, timestamp_ms=timestamp_ms, window_ms=window_ms)


def _any_signing_string(
    instruction: str, params: Params | Sequence[Params] | None, *, timestamp_ms: int, window_ms: int
) -> str:
    if params is None or isinstance(params, Mapping):
        return signing_string(instruction, params, timestamp_ms=timestamp_ms, window_ms=window_ms)
    return batch_signing_string(instruction, params, timestamp_ms=timestamp_ms, window_ms=window_ms)


# ---------------------------------------------------------------------------------------------- client side


def _b64decode(text: object, *, what: str) -> bytes:
    if not isinstance(text, str):
        raise BadValue(f"{what}: expected a base64 string")
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadValue(f"{what}: not valid base64 (value withheld)") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_fingerprint(public_key_b64: str) -> str:
    """A short, non-reversible tag for an API key, safe for logs: the first 8 hex digits of SHA-256."""
    return hashlib.sha256(public_key_b64.encode("utf-8", "replace")).hexdigest()[:8]


class BackpackSigner:
    """Holds a Backpack API secret (ED25519 seed) and signs requests with it.

    The secret is never shown: ``repr``/``str`` give only a fingerprint of the public key, errors about a
    malformed secret never quote it, and the object cannot be pickled or copied.

    Args:
        secret_b64: the API secret as Backpack issues it: base64 of the 32-byte ED25519 seed. A 64-byte
            value is accepted too and its first 32 bytes are the seed (what ccxt ``backpack.sign()`` does, Backpack
            docs: signing).

    Raises:
        BadValue: the secret is not base64, or not 32 or 64 bytes (the message never contains it).

    Attributes:
        api_key (str): base64 of the 32-byte verifying key: the ``X-API-Key`` header value.
        key_id (str): :func:`key_fingerprint` of ``api_key``, for logs.
    """

    __slots__ = ("_signing_key", "api_key", "key_id")

    def __init__(self, secret_b64: str) -> None:
        raw = _b64decode(secret_b64, what="backpack secret")
        if len(raw) not in (SEED_BYTES, 2 * SEED_BYTES):
            raise BadValue(f"backpack secret: expected {SEED_BYTES} or {2 * SEED_BYTES} bytes, got {len(raw)}")
        self._signing_key = nacl.signing.SigningKey(raw[:SEED_BYTES])
        del raw
        self.api_key: str = _b64(bytes(self._signing_key.verify_key))
        self.key_id: str = key_fingerprint(self.api_key)

    def __repr__(self) -> str:
        return f"BackpackSigner(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("BackpackSigner holds a secret and cannot be pickled or copied")

    def __copy__(self) -> NoReturn:
        raise TypeError("BackpackSigner holds a secret and cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("BackpackSigner holds a secret and cannot be copied")

    def sign(self, message: str) -> str:
        """Sign ``message`` (UTF-8) and return the base64 64-byte ED25519 signature."""
        return _b64(self._signing_key.sign(message.encode("utf-8")).signature)

    def headers(
        self,
        instruction: str,
        params: Params | Sequence[Params] | None,
        *,
        timestamp_ms: int,
        window_ms: int = DEFAULT_WINDOW_MS,
    ) -> dict[str, str]:
        """The four authentication headers for one REST request.

        Args:
            instruction: see :func:`instruction_for`.
            params: the JSON body object, a list of objects for a batch, or the query parameters (or None).
            timestamp_ms: unix ms now (the caller's clock; Backpack rejects stale requests).
            window_ms: validity window, ms (1..60000).

        Returns:
            dict[str, str]: ``X-API-Key``, ``X-Signature``, ``X-Timestamp``, ``X-Window``. Add
            ``Content-Type: application/json; charset=utf-8`` for POST/DELETE bodies yourself.

        Raises:
            BadValue: see :func:`signing_string`.
        """
        text = _any_signing_string(instruction, params, timestamp_ms=timestamp_ms, window_ms=window_ms)
        return {
            _HEADER_API_KEY: self.api_key,
            _HEADER_SIGNATURE: self.sign(text),
            _HEADER_TIMESTAMP: str(timestamp_ms),
            _HEADER_WINDOW: str(window_ms),
        }

    def ws_subscribe_signature(self, *, timestamp_ms: int, window_ms: int = DEFAULT_WINDOW_MS) -> list[str]:
        """The ``signature`` array of a private WS SUBSCRIBE: ``[api_key, signature, "<ts>", "<window>"]`` (Backpack WS
        docs).

        Raises:
            BadValue: a bad timestamp or window.
        """
        text = ws_subscribe_signing_string(timestamp_ms=timestamp_ms, window_ms=window_ms)
        return [self.api_key, self.sign(text), str(timestamp_ms), str(window_ms)]


# ---------------------------------------------------------------------------------------------- server side


def _auth_fail(reason: str, *, code: str, venue: str) -> NoReturn:
    raise AuthError(venue, reason, code=code)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (HTTP header names are case-insensitive)."""
    value: object = headers.get(name)
    if value is None:
        lowered = name.lower()
        for k, v in headers.items():
            if isinstance(k, str) and k.lower() == lowered:
                value = v
                break
    return value if isinstance(value, str) else None


def _header_int(headers: Mapping[str, str], name: str, *, default: int | None, venue: str) -> int:
    text = _header(headers, name)
    if text is None:
        if default is None:
            _auth_fail(f"missing {name} header", code="UNAUTHORIZED", venue=venue)
        return default
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        _auth_fail(f"{name} must be a non-negative integer", code="UNAUTHORIZED", venue=venue)
    return int(text)


def verify_request(
    headers: Mapping[str, str],
    instruction: str,
    params: Params | Sequence[Params] | None,
    public_key: str,
    now_ms: int,
    *,
    venue: str = VENUE,
) -> None:
    """Check a signed request the way the venue does (for the simulator): key, window, freshness, signature.

    Args:
        headers: the request headers (names matched case-insensitively).
        instruction: the instruction of the route that was called (:func:`instruction_for`), or
            ``"subscribe"`` for a private WS subscription.
        params: what was received: the decoded JSON body object, a list of objects for a batch, or the query
            parameters (strings); None for none.
        public_key: the base64 verifying key registered for the account.
        now_ms: the server's clock, unix ms.
        venue: venue name for the error.

    Raises:
        AuthError: with ``code`` ``"UNAUTHORIZED"`` (missing/malformed header, unknown API key, window
            outside 1..60000, timestamp outside ``now_ms +- window``) or ``"INVALID_SIGNATURE"`` (the
            signature does not verify, or the parameters cannot be rendered). The reason never contains the
            key, the signature or any secret. Freshness rule: accepted iff
            ``timestamp - window <= now_ms <= timestamp + window``; Backpack documents only "the time window the
            request is valid for" (Backpack docs: signing), so the symmetric tolerance for a client clock ahead of ours
            is our choice (not documented).
    """
    presented_key = _header(headers, _HEADER_API_KEY)
    if presented_key is None:
        _auth_fail(f"missing {_HEADER_API_KEY} header", code="UNAUTHORIZED", venue=venue)
    if not hmac.compare_digest(presented_key.strip().encode("utf-8", "replace"), public_key.encode("utf-8")):
        _auth_fail("API key is not registered for this account", code="UNAUTHORIZED", venue=venue)
    timestamp_ms = _header_int(headers, _HEADER_TIMESTAMP, default=None, venue=venue)
    window_ms = _header_int(headers, _HEADER_WINDOW, default=DEFAULT_WINDOW_MS, venue=venue)
    if not 0 < window_ms <= MAX_WINDOW_MS:
        _auth_fail(f"{_HEADER_WINDOW} must be in 1..{MAX_WINDOW_MS} ms", code="UNAUTHORIZED", venue=venue)
    if now_ms > timestamp_ms + window_ms:
        _auth_fail(
            f"request expired: {now_ms - timestamp_ms} ms old, window {window_ms} ms", code="UNAUTHORIZED", venue=venue
        )
    if timestamp_ms > now_ms + window_ms:
        _auth_fail(f"timestamp {timestamp_ms - now_ms} ms in the future", code="UNAUTHORIZED", venue=venue)
    signature_b64 = _header(headers, _HEADER_SIGNATURE)
    if signature_b64 is None:
        _auth_fail(f"missing {_HEADER_SIGNATURE} header", code="UNAUTHORIZED", venue=venue)
    try:
        signature = _b64decode(signature_b64, what=_HEADER_SIGNATURE)
        key_bytes = _b64decode(public_key, what="registered public key")
        text = _any_signing_string(instruction, params, timestamp_ms=timestamp_ms, window_ms=window_ms)
    except BadValue:
        _auth_fail("signature or parameters malformed", code="INVALID_SIGNATURE", venue=venue)
    if len(signature) != SIGNATURE_BYTES or len(key_bytes) != PUBLIC_KEY_BYTES:
        _auth_fail("signature or key has the wrong length", code="INVALID_SIGNATURE", venue=venue)
    try:
        nacl.signing.VerifyKey(key_bytes).verify(text.encode("utf-8"), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError):
        _auth_fail("signature does not match the request", code="INVALID_SIGNATURE", venue=venue)


def verify_ws_subscribe(signature: object, public_key: str, now_ms: int, *, venue: str = VENUE) -> None:
    """Check the ``signature`` array of a private WS SUBSCRIBE (server side, Backpack WS docs).

    Args:
        signature: the message's ``signature`` value: ``[key, sig, "<ts>", "<window>"]``.
        public_key: the registered base64 verifying key.
        now_ms: server clock, unix ms.
        venue: venue name for the error.

    Raises:
        AuthError: as :func:`verify_request` (a malformed array is ``UNAUTHORIZED``).
    """
    if not isinstance(signature, list) or len(signature) != 4 or not all(isinstance(x, str) for x in signature):
        _auth_fail("signature must be [key, signature, timestamp, window] strings", code="UNAUTHORIZED", venue=venue)
    headers = {
        _HEADER_API_KEY: signature[0],
        _HEADER_SIGNATURE: signature[1],
        _HEADER_TIMESTAMP: signature[2],
        _HEADER_WINDOW: signature[3],
    }
    verify_request(headers, SUBSCRIBE_INSTRUCTION, None, public_key, now_ms, venue=venue)
