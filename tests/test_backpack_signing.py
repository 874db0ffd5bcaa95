"""Backpack ED25519 signing: the vectors, two independent implementations (ccxt, pyca/cryptography), server-side
verification, and secret hygiene.

Fixtures: tests/fixtures/backpack/backpack_signing_vectors.json (see tests/fixtures/SOURCES.md).
"""

from __future__ import annotations

import base64
import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hedge.domain import BadValue
from trio_hedge.protocols.backpack import (
    DEFAULT_WINDOW_MS,
    MAX_WINDOW_MS,
    BackpackSigner,
    batch_signing_string,
    instruction_for,
    render_value,
    signing_string,
    verify_request,
    verify_ws_subscribe,
    ws_subscribe_signing_string,
)
from trio_hedge.venues import AuthError

FIXTURES = Path(__file__).parent / "fixtures" / "backpack"
VECTORS: dict[str, Any] = json.loads((FIXTURES / "backpack_signing_vectors.json").read_text())
SECRET: str = VECTORS["secret_base64_64bytes"]
PUBLIC_KEY: str = VECTORS["public_key_base64"]
TS = 1750793021519
REST_VECTORS = [v for v in VECTORS["vectors"] if v["method"] != "WS"]
WS_VECTOR = next(v for v in VECTORS["vectors"] if v["method"] == "WS")


def _vector_id(v: dict[str, Any]) -> str:
    return f"{v['method']} {v['path']}"


def _other_secret() -> str:
    return base64.b64encode(bytes(range(1, 33))).decode()


@pytest.fixture(scope="module")
def signer() -> BackpackSigner:
    return BackpackSigner(SECRET)


# ------------------------------------------------------------------------------------------- vectors


@pytest.mark.parametrize("vector", REST_VECTORS, ids=_vector_id)
def test_signing_string_and_headers_equal_every_rest_vector(signer: BackpackSigner, vector: dict[str, Any]) -> None:
    instruction = instruction_for(vector["method"], vector["path"])
    assert vector["signing_string"].startswith(f"instruction={instruction}&")
    text = signing_string(instruction, vector["params_or_body"], timestamp_ms=TS)
    assert text == vector["signing_string"]
    assert signer.headers(instruction, vector["params_or_body"], timestamp_ms=TS) == vector["headers"]


def test_ws_subscribe_vector(signer: BackpackSigner) -> None:
    assert ws_subscribe_signing_string(timestamp_ms=TS) == WS_VECTOR["signing_string"]
    assert signer.sign(WS_VECTOR["signing_string"]) == WS_VECTOR["headers"]["X-Signature"]
    assert signer.ws_subscribe_signature(timestamp_ms=TS) == VECTORS["ws_private_subscribe_message"]["signature"]


def test_api_key_is_the_verifying_key_and_32_byte_seed_gives_the_same_key(signer: BackpackSigner) -> None:
    assert signer.api_key == PUBLIC_KEY
    seed_only = base64.b64encode(base64.b64decode(SECRET)[:32]).decode()
    assert BackpackSigner(seed_only).api_key == PUBLIC_KEY
    assert BackpackSigner(seed_only).sign("x") == signer.sign("x")


@pytest.mark.parametrize("vector", REST_VECTORS, ids=_vector_id)
def test_signature_verifies_with_pyca_cryptography(signer: BackpackSigner, vector: dict[str, Any]) -> None:
    # An independent ED25519 implementation (OpenSSL via `cryptography`) accepts our signature.
    instruction = instruction_for(vector["method"], vector["path"])
    headers = signer.headers(instruction, vector["params_or_body"], timestamp_ms=TS + 7, window_ms=6000)
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(headers["X-API-Key"]))
    text = signing_string(instruction, vector["params_or_body"], timestamp_ms=TS + 7, window_ms=6000)
    public.verify(base64.b64decode(headers["X-Signature"]), text.encode())
    assert headers["X-Timestamp"] == str(TS + 7) and headers["X-Window"] == "6000"


def _ccxt_sign(path: str, method: str, params: Any, ts: int) -> dict[str, Any]:
    import ccxt  # type: ignore[import-untyped]

    exchange = ccxt.backpack({"apiKey": PUBLIC_KEY, "secret": SECRET})
    exchange.nonce = lambda: ts
    result: dict[str, Any] = exchange.sign(path, ["private"], method, params)
    return result


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        (
            "POST",
            "api/v1/order",
            {
                "symbol": "BTC_USDC_PERP",
                "side": "Ask",
                "orderType": "Limit",
                "price": "61800.5",
                "quantity": "0.00123",
                "timeInForce": "IOC",
                "reduceOnly": True,
                "clientId": 4294967295,
            },
        ),
        ("GET", "api/v1/orders", {"symbol": "ETH_USDC_PERP", "marketType": "PERP"}),
        ("DELETE", "api/v1/order", {"symbol": "ETH_USDC_PERP", "orderId": "8284661092"}),
        ("GET", "wapi/v1/history/fills", {"symbol": "ETH_USDC_PERP", "from": 1754062378000, "limit": 3}),
    ],
)
def test_headers_equal_ccxt_sign(signer: BackpackSigner, method: str, path: str, params: dict[str, Any]) -> None:
    ts = 1760000000123
    theirs = _ccxt_sign(path, method, dict(params), ts)["headers"]
    ours = signer.headers(instruction_for(method, "/" + path), params, timestamp_ms=ts)
    for name in ("X-API-Key", "X-Signature", "X-Timestamp", "X-Window"):
        assert ours[name] == theirs[name], name


def test_batch_signing_string_matches_openapi_example_and_ccxt(signer: BackpackSigner) -> None:
    orders = [
        {"symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "141", "quantity": "12"},
        {"symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "140", "quantity": "11"},
    ]
    # Verbatim from openapi.json info.description "Regarding batch order execution".
    expected = (
        "instruction=orderExecute&orderType=Limit&price=141&quantity=12&side=Bid&symbol=SOL_USDC_PERP"
        "&instruction=orderExecute&orderType=Limit&price=140&quantity=11&side=Bid&symbol=SOL_USDC_PERP"
        "&timestamp=1750793021519&window=5000"
    )
    assert batch_signing_string("orderExecute", orders, timestamp_ms=TS) == expected
    theirs = _ccxt_sign("api/v1/orders", "POST", [dict(o) for o in orders], TS)["headers"]
    assert signer.headers("orderExecute", orders, timestamp_ms=TS)["X-Signature"] == theirs["X-Signature"]


def test_openapi_cancel_example_signing_string() -> None:
    # Verbatim from openapi.json info.description (orderCancel example body {"orderId": 28, "symbol": "BTC_USDT"}).
    text = signing_string("orderCancel", {"symbol": "BTC_USDT", "orderId": 28}, timestamp_ms=1614550000000)
    assert text == "instruction=orderCancel&orderId=28&symbol=BTC_USDT&timestamp=1614550000000&window=5000"


# ------------------------------------------------------------------------------------------- rendering


def test_render_values_follow_bpx_rs_json_text_rule() -> None:
    assert render_value(True) == "true" and render_value(False) == "false"
    assert render_value(123456) == "123456" and render_value(-5) == "-5"
    assert render_value("SOL_USDC_PERP") == "SOL_USDC_PERP"
    assert render_value({"b": 1, "a": [True, "x", None]}) == '{"a":[true,"x",null],"b":1}'
    assert render_value('say "hi"\\\n') == 'say \\"hi\\"\\\\\\n'


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"])))
@settings(max_examples=200, deadline=None)
def test_render_string_equals_json_text_without_quotes(text: str) -> None:
    # Python's json escapes exactly what serde_json escapes when ensure_ascii=False: ", \ and C0 controls.
    assert render_value(text) == json.dumps(text, ensure_ascii=False)[1:-1]


json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_values = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
@settings(max_examples=150, deadline=None)
def test_nested_values_render_as_compact_sorted_json(value: dict[str, Any]) -> None:
    assert render_value(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@pytest.mark.parametrize("bad", [1.5, float("nan"), __import__("decimal").Decimal("1.5"), None, b"x", {"a": 1.0}])
def test_unsignable_values_are_refused(bad: object) -> None:
    with pytest.raises(BadValue):
        signing_string("orderExecute", {"price": bad}, timestamp_ms=TS)


def test_no_params_and_empty_params_sign_the_same() -> None:
    assert signing_string("positionQuery", None, timestamp_ms=TS) == signing_string(
        "positionQuery", {}, timestamp_ms=TS
    )
    assert (
        signing_string("positionQuery", None, timestamp_ms=TS)
        == "instruction=positionQuery&timestamp=1750793021519&window=5000"
    )


@pytest.mark.parametrize("window", [0, -1, MAX_WINDOW_MS + 1, True, 5000.0])
def test_bad_window_is_refused(window: Any) -> None:
    with pytest.raises(BadValue):
        signing_string("orderQuery", {}, timestamp_ms=TS, window_ms=window)


@pytest.mark.parametrize("ts", [-1, 1.5, "1750793021519", None])
def test_bad_timestamp_is_refused(ts: Any) -> None:
    with pytest.raises(BadValue):
        signing_string("orderQuery", {}, timestamp_ms=ts)


def test_instructions_for_routes() -> None:
    assert instruction_for("post", "/api/v1/order") == "orderExecute"
    assert instruction_for("DELETE", "/api/v1/orders/") == "orderCancelAll"
    assert instruction_for("GET", "/api/v1/capital/collateral") == "collateralQuery"
    assert instruction_for("GET", "/wapi/v1/history/fills") == "fillHistoryQueryAll"
    with pytest.raises(BadValue):
        instruction_for("PUT", "/api/v1/order")
    with pytest.raises(BadValue):
        batch_signing_string("orderExecute", [], timestamp_ms=TS)


# ------------------------------------------------------------------------------------------- verification


@pytest.mark.parametrize("vector", REST_VECTORS, ids=_vector_id)
def test_verify_accepts_vector_headers(vector: dict[str, Any]) -> None:
    instruction = instruction_for(vector["method"], vector["path"])
    verify_request(vector["headers"], instruction, vector["params_or_body"], PUBLIC_KEY, TS + 4999)


def test_verify_accepts_query_strings_and_lowercase_headers(signer: BackpackSigner) -> None:
    headers = signer.headers("orderQuery", {"symbol": "SOL_USDC_PERP", "clientId": 123456}, timestamp_ms=TS)
    lowered = {k.lower(): v for k, v in headers.items()}
    # Query parameters arrive as strings; "123456" renders exactly like 123456.
    verify_request(lowered, "orderQuery", {"clientId": "123456", "symbol": "SOL_USDC_PERP"}, PUBLIC_KEY, TS)


def test_verify_defaults_window_when_header_absent(signer: BackpackSigner) -> None:
    headers = signer.headers("positionQuery", None, timestamp_ms=TS)
    del headers["X-Window"]
    verify_request(headers, "positionQuery", None, PUBLIC_KEY, TS + DEFAULT_WINDOW_MS)
    with pytest.raises(AuthError):
        verify_request(headers, "positionQuery", None, PUBLIC_KEY, TS + DEFAULT_WINDOW_MS + 1)


def _headers(signer: BackpackSigner, body: dict[str, Any], **kw: Any) -> dict[str, str]:
    return signer.headers("orderExecute", body, timestamp_ms=kw.get("ts", TS), window_ms=kw.get("window", 5000))


BODY = REST_VECTORS[0]["params_or_body"]


def test_verify_rejects_tampered_params(signer: BackpackSigner) -> None:
    headers = _headers(signer, BODY)
    for tampered in (
        {**BODY, "quantity": "13"},
        {**BODY, "reduceOnly": True},
        {k: v for k, v in BODY.items() if k != "postOnly"},
    ):
        with pytest.raises(AuthError) as info:
            verify_request(headers, "orderExecute", tampered, PUBLIC_KEY, TS)
        assert info.value.code == "INVALID_SIGNATURE"
    with pytest.raises(AuthError):  # same params, other instruction
        verify_request(headers, "orderCancel", BODY, PUBLIC_KEY, TS)


def test_verify_rejects_wrong_key(signer: BackpackSigner) -> None:
    other = BackpackSigner(_other_secret())
    with pytest.raises(AuthError) as info:  # signed by someone else, presenting their own key
        verify_request(_headers(other, BODY), "orderExecute", BODY, PUBLIC_KEY, TS)
    assert info.value.code == "UNAUTHORIZED"
    forged = {**_headers(other, BODY), "X-API-Key": PUBLIC_KEY}
    with pytest.raises(AuthError) as info:  # signed by someone else, presenting our key
        verify_request(forged, "orderExecute", BODY, PUBLIC_KEY, TS)
    assert info.value.code == "INVALID_SIGNATURE"


def test_verify_rejects_expired_and_future_timestamps(signer: BackpackSigner) -> None:
    headers = _headers(signer, BODY, window=1000)
    verify_request(headers, "orderExecute", BODY, PUBLIC_KEY, TS + 1000)
    verify_request(headers, "orderExecute", BODY, PUBLIC_KEY, TS - 1000)
    with pytest.raises(AuthError, match="expired"):
        verify_request(headers, "orderExecute", BODY, PUBLIC_KEY, TS + 1001)
    with pytest.raises(AuthError, match="future"):
        verify_request(headers, "orderExecute", BODY, PUBLIC_KEY, TS - 1001)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.pop("X-Signature"),
        lambda h: h.pop("X-Timestamp"),
        lambda h: h.pop("X-API-Key"),
        lambda h: h.update({"X-Signature": "not base64!"}),
        lambda h: h.update({"X-Signature": base64.b64encode(b"short").decode()}),
        lambda h: h.update({"X-Timestamp": "17e11"}),
        lambda h: h.update({"X-Window": "60001"}),
        lambda h: h.update({"X-Window": "0"}),
    ],
)
def test_verify_rejects_malformed_headers(signer: BackpackSigner, mutate: Any) -> None:
    headers = _headers(signer, BODY)
    mutate(headers)
    with pytest.raises(AuthError):
        verify_request(headers, "orderExecute", BODY, PUBLIC_KEY, TS)


def test_verify_batch(signer: BackpackSigner) -> None:
    orders = [BODY, {**BODY, "clientId": 7}]
    headers = signer.headers("orderExecute", orders, timestamp_ms=TS)
    verify_request(headers, "orderExecute", orders, PUBLIC_KEY, TS)
    with pytest.raises(AuthError):
        verify_request(headers, "orderExecute", orders[::-1], PUBLIC_KEY, TS)


def test_verify_ws_subscribe(signer: BackpackSigner) -> None:
    verify_ws_subscribe(VECTORS["ws_private_subscribe_message"]["signature"], PUBLIC_KEY, TS + 10)
    sig = signer.ws_subscribe_signature(timestamp_ms=TS, window_ms=2000)
    with pytest.raises(AuthError):
        verify_ws_subscribe(sig, PUBLIC_KEY, TS + 2001)
    for bad in (None, sig[:3], [*sig[:2], TS, "2000"], "x"):
        with pytest.raises(AuthError):
            verify_ws_subscribe(bad, PUBLIC_KEY, TS)


header_values = st.one_of(st.text(max_size=100), st.sampled_from([PUBLIC_KEY, str(TS), "5000", "60000"]))


@given(
    st.dictionaries(
        st.sampled_from(["X-API-Key", "X-Signature", "X-Timestamp", "X-Window", "x-window"]), header_values
    ),
    st.one_of(
        st.none(), st.dictionaries(st.text(max_size=5), json_values, max_size=3), st.lists(json_values, max_size=2)
    ),
)
@settings(max_examples=300, deadline=None)
def test_verify_only_ever_raises_auth_error(headers: dict[str, str], params: Any) -> None:
    try:
        verify_request(headers, "orderExecute", params, PUBLIC_KEY, TS)
    except AuthError as exc:
        assert PUBLIC_KEY not in str(exc)
    else:  # pragma: no cover - a random signature verifying would be a catastrophe
        pytest.fail("random headers verified")


# ------------------------------------------------------------------------------------------- secrets


def _secret_forms() -> list[str]:
    seed = base64.b64decode(SECRET)[:32]
    return [SECRET, SECRET[:16], base64.b64encode(seed).decode(), seed.hex(), repr(seed)]


def test_secret_never_in_repr_or_str(signer: BackpackSigner) -> None:
    for text in (repr(signer), str(signer), f"{signer}", repr([signer])):
        for form in _secret_forms():
            assert form not in text
        assert PUBLIC_KEY not in text  # the API key is a secret too; only a fingerprint is shown
    assert signer.key_id in repr(signer)
    assert not hasattr(signer, "__dict__")


def test_signer_cannot_be_pickled_or_copied(signer: BackpackSigner) -> None:
    for attempt in (lambda: pickle.dumps(signer), lambda: copy.copy(signer), lambda: copy.deepcopy(signer)):
        with pytest.raises(TypeError) as info:
            attempt()
        for form in _secret_forms():
            assert form not in str(info.value)


@pytest.mark.parametrize(
    "bad_secret",
    [
        "!" + SECRET[1:],  # not base64
        SECRET[:-4],  # wrong length after decoding
        base64.b64encode(b"x" * 31).decode(),
        "",
    ],
)
def test_malformed_secret_error_does_not_quote_it(bad_secret: str) -> None:
    with pytest.raises(BadValue) as info:
        BackpackSigner(bad_secret)
    text = str(info.value) + repr(info.value) + str(info.value.__context__)
    assert info.value.__cause__ is None
    if bad_secret:
        assert bad_secret[:12] not in text


def test_auth_errors_do_not_echo_key_or_signature(signer: BackpackSigner) -> None:
    headers = _headers(signer, BODY)
    with pytest.raises(AuthError) as info:
        verify_request(headers, "orderExecute", {**BODY, "quantity": "1"}, PUBLIC_KEY, TS)
    text = str(info.value)
    assert headers["X-Signature"] not in text and PUBLIC_KEY not in text and SECRET not in text


def test_other_library_key_pair_interoperates() -> None:
    # A key made by pyca/cryptography (the Backpack docs' key generator) works as a Backpack secret.
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    signer = BackpackSigner(base64.b64encode(seed).decode())
    assert base64.b64decode(signer.api_key) == private.public_key().public_bytes_raw()
    message = "instruction=balanceQuery&timestamp=1&window=5000"
    assert base64.b64decode(signer.sign(message)) == private.sign(message.encode())
