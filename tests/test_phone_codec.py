"""The phone wallet's JS codec agrees with the Python core: committed vectors, and node's own tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from phone_vectors import DICTIONARY_JS, ROOT, VECTORS, dictionary_js

from credential import (
    CredentialError,
    DeskRequest,
    decode_qr_text,
    decode_request_text,
    encode_qr_text,
    encode_request_text,
)


def test_dictionary_js_is_current() -> None:
    assert DICTIONARY_JS.read_text(encoding="utf-8") == dictionary_js()


def test_python_agrees_with_every_cid1_vector() -> None:
    vectors = json.loads((VECTORS / "cid1.json").read_text(encoding="utf-8"))
    for vector in vectors["proofs"]:
        assert encode_qr_text(vector["compact"]) == vector["qr_text"], vector["name"]
        assert decode_qr_text(vector["qr_text"]) == vector["compact"], vector["name"]
    for vector in vectors["malformed"]:
        with pytest.raises(CredentialError) as caught:
            decode_qr_text(vector["qr_text"])
        assert caught.value.reason.value == vector["reason"]


def test_python_agrees_with_every_request_vector() -> None:
    vectors = json.loads((VECTORS / "requests.json").read_text(encoding="utf-8"))
    for vector in vectors["requests"]:
        request = DeskRequest(policy=vector["policy"], claims=tuple(vector["claims"]), nonce=vector["nonce"],
                              audience=vector["audience"], expires_at=vector["expiresAt"])  # fmt: skip
        assert encode_request_text(request) == vector["text"]
        assert decode_request_text(vector["text"]) == request
    for vector in vectors["malformed"]:
        with pytest.raises(CredentialError) as caught:
            decode_request_text(vector["text"])
        assert caught.value.reason.value == vector["reason"]


def test_node_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        message = "node is not installed; the phone wallet's JS tests need it"
        if os.environ.get("CITYID_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run([node, "--test", "wallet/app/test/"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
