"""GRVT login of the wire simulator: API-key and wallet (EIP-712 ``WalletLogin``) logins, the ``gravity`` session
cookie (GRVT docs: login; ccxt ``sign_in_with_private_key``)."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

import coincurve
from starlette.responses import Response

from ...domain import BadValue
from ...protocols.grvt import COOKIE_NAME, encode_json, format_set_cookie, keccak256
from ._common import _DOMAIN_TYPEHASH, _SECP256K1_N, _WALLET_LOGIN_TYPEHASH, SESSION_LIFETIME_S, _ApiError, _uint_field
from ._state import _GrvtState


class _GrvtAuth(_GrvtState):
    """Sessions and logins (a mixin of the server class)."""

    def _new_session(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        expires_s = int(time.time()) + SESSION_LIFETIME_S
        now = time.time()
        for k in [k for k, exp in self._sessions.items() if exp <= now]:
            del self._sessions[k]
        self._sessions[token] = float(expires_s)
        return token, expires_s

    def _session_ok(self, cookies: Mapping[str, str], headers: Mapping[str, str]) -> bool | None:
        """None: no session cookie; True: a live session with the right account id; False otherwise."""
        token = cookies.get(COOKIE_NAME)
        if not token:
            return None
        expires = self._sessions.get(token)
        if expires is None or expires <= time.time():
            return False
        account = headers.get("x-grvt-account-id", "")
        return hmac.compare_digest(account.lower().encode(), self.account_id.encode())

    def _login_response(self) -> Response:
        token, expires_s = self._new_session()
        body = {
            "status": "success",
            "location": "",
            "funding_account_address": self.account_id,
            "sub_account_id": self.sub_account_id,
        }
        headers = {
            "Set-Cookie": format_set_cookie(token, expires_s, secure=False),
            "X-Grvt-Account-Id": self.account_id,
        }
        return Response(encode_json(body), 200, headers=headers, media_type="application/json")

    def _check_api_key_login(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("api_key"), str):
            raise _ApiError(1003, "api_key: expected a string")
        if not hmac.compare_digest(body["api_key"].encode(), self._api_key.encode()):
            raise _ApiError(1000)

    def _check_wallet_login(self, body: Any) -> None:
        """Verify ccxt's wallet login: ``{"address", "signature": {signer, r, s, v, expiration, nonce}}``
        signed as EIP-712 ``WalletLogin(address signer,uint32 nonce,int64 expiration)`` (ccxt
        ``sign_in_with_private_key``, GRVT docs: login)."""
        if not isinstance(body, dict) or not isinstance(body.get("signature"), dict):
            raise _ApiError(1003, "wallet login needs address and signature")
        sig = body["signature"]
        address = body.get("address")
        try:
            signer_word = _address_word(address)
            nonce = _uint_field(sig.get("nonce"), 2**32 - 1, "nonce")
            expiration = _uint_field(sig.get("expiration"), 2**63 - 1, "expiration")
            v = int(sig["v"]) if isinstance(sig.get("v"), (int, str)) and str(sig["v"]) in ("27", "28") else None
            r, s = _hex32(sig.get("r")), _hex32(sig.get("s"))
        except (BadValue, KeyError):
            raise _ApiError(1003, "malformed wallet login signature") from None
        if v is None:
            raise _ApiError(2005)
        if expiration <= time.time_ns():
            raise _ApiError(2001)
        struct = keccak256(
            _WALLET_LOGIN_TYPEHASH + signer_word + nonce.to_bytes(32, "big") + expiration.to_bytes(32, "big")
        )
        digest = keccak256(b"\x19\x01" + _domain_separator(self.chain_id) + struct)
        try:
            pub = coincurve.PublicKey.from_signature_and_message(
                r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v - 27,)), digest, hasher=None
            )
        except Exception:
            raise _ApiError(2002) from None
        recovered = "0x" + keccak256(pub.format(compressed=False)[1:])[12:].hex()
        if recovered != str(address).lower() or recovered != self.account_id:
            raise _ApiError(1000)


def _address_word(address: Any) -> bytes:
    if not isinstance(address, str) or len(address) != 42 or not address.startswith(("0x", "0X")):
        raise BadValue("address: expected 0x + 40 hex digits")
    try:
        return bytes(12) + bytes.fromhex(address[2:])
    except ValueError:
        raise BadValue("address: expected 0x + 40 hex digits") from None


def _hex32(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or not 3 <= len(value) <= 66:
        raise BadValue("signature r/s: expected 0x-prefixed hex")
    try:
        n = int(value, 16)
    except ValueError:
        raise BadValue("signature r/s: expected 0x-prefixed hex") from None
    if not 0 < n < _SECP256K1_N:
        raise BadValue("signature r/s out of range")
    return n


def _domain_separator(chain_id: int) -> bytes:
    """EIP-712 domain separator of ``{"name": "GRVT Exchange", "version": "0", "chainId": chain_id}`` (grvt-pysdk
    signing)."""
    return keccak256(_DOMAIN_TYPEHASH + keccak256(b"GRVT Exchange") + keccak256(b"0") + chain_id.to_bytes(32, "big"))
