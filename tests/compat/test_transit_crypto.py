"""Transit's signatures and RSA encryption checked by an independent implementation (Python's
`cryptography`, on OpenSSL): what Tresor signs verifies there, what is signed there with the
exported key verifies in Tresor, and RSA-OAEP works both ways."""

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.exceptions import InvalidSignature

MESSAGE = b"transit signs this"
B64 = base64.b64encode(MESSAGE).decode()
HASHES = {"sha2-256": hashes.SHA256(), "sha2-384": hashes.SHA384(), "sha2-512": hashes.SHA512()}


def post(server, path, body):
    status, answer = server.request("POST", path, body)
    assert status == 200, (path, status, answer)
    return answer["data"]


def sig_bytes(signature):
    prefix, version, body = signature.split(":")
    assert prefix == "vault" and version.startswith("v")
    return base64.b64decode(body)


@pytest.mark.parametrize(
    "kind,hash_name,rsa_padding",
    [
        ("ed25519", None, None),
        ("ecdsa-p256", "sha2-256", None),
        ("ecdsa-p384", "sha2-384", None),
        ("ecdsa-p521", "sha2-512", None),
        ("rsa-2048", "sha2-256", "pss"),
        ("rsa-3072", "sha2-384", "pkcs1v15"),
    ],
)
def test_signatures_verify_both_ways(tresor, kind, hash_name, rsa_padding):
    server = tresor
    server.request("POST", "sys/mounts/transit", {"type": "transit"})
    name = kind.replace("-", "")
    post(server, f"transit/keys/{name}", {"type": kind, "exportable": True})
    body = {"input": B64}
    if hash_name:
        body["hash_algorithm"] = hash_name
    if rsa_padding:
        body["signature_algorithm"] = rsa_padding
    signature = post(server, f"transit/sign/{name}", body)["signature"]

    public_pem = post(server, f"transit/keys/{name}", {}) and server.request("GET", f"transit/export/public-key/{name}")[1]["data"]["keys"]["1"]
    exported = server.request("GET", f"transit/export/signing-key/{name}")[1]["data"]["keys"]["1"]
    private = serialization.load_pem_private_key(exported.encode(), password=None)

    if kind == "ed25519":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_pem))
        public.verify(sig_bytes(signature), MESSAGE)
        mine = private.sign(MESSAGE)
    else:
        public = serialization.load_pem_public_key(public_pem.encode())
        assert public.public_numbers() == private.public_key().public_numbers()
        h = HASHES[hash_name]
        if kind.startswith("ecdsa"):
            public.verify(sig_bytes(signature), MESSAGE, ec.ECDSA(h))
            mine = private.sign(MESSAGE, ec.ECDSA(h))
        else:
            pad = (
                padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.AUTO)
                if rsa_padding == "pss"
                else padding.PKCS1v15()
            )
            public.verify(sig_bytes(signature), MESSAGE, pad, h)
            sign_pad = (
                padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.DIGEST_LENGTH)
                if rsa_padding == "pss"
                else padding.PKCS1v15()
            )
            mine = private.sign(MESSAGE, sign_pad, h)
    with pytest.raises(InvalidSignature):
        if kind == "ed25519":
            public.verify(sig_bytes(signature), b"something else")
        elif kind.startswith("ecdsa"):
            public.verify(sig_bytes(signature), b"something else", ec.ECDSA(HASHES[hash_name]))
        else:
            public.verify(sig_bytes(signature), b"something else", padding.PKCS1v15() if rsa_padding == "pkcs1v15" else padding.PSS(mgf=padding.MGF1(HASHES[hash_name]), salt_length=padding.PSS.AUTO), HASHES[hash_name])

    body = {"input": B64, "signature": "vault:v1:" + base64.b64encode(mine).decode()}
    if hash_name:
        body["hash_algorithm"] = hash_name
    if rsa_padding:
        body["signature_algorithm"] = rsa_padding
    assert post(server, f"transit/verify/{name}", body)["valid"] is True
    body["input"] = base64.b64encode(b"something else").decode()
    assert post(server, f"transit/verify/{name}", body)["valid"] is False


def test_rsa_oaep_both_ways(tresor):
    server = tresor
    server.request("POST", "sys/mounts/transit", {"type": "transit"})
    post(server, "transit/keys/r", {"type": "rsa-2048", "exportable": True})
    exported = server.request("GET", "transit/export/encryption-key/r")[1]["data"]["keys"]["1"]
    private = serialization.load_pem_private_key(exported.encode(), password=None)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)

    ciphertext = post(server, "transit/encrypt/r", {"plaintext": B64})["ciphertext"]
    assert private.decrypt(sig_bytes(ciphertext), oaep) == MESSAGE
    theirs = private.public_key().encrypt(MESSAGE, oaep)
    plain = post(server, "transit/decrypt/r", {"ciphertext": "vault:v1:" + base64.b64encode(theirs).decode()})
    assert base64.b64decode(plain["plaintext"]) == MESSAGE


def test_keys_imported_by_either_cli_are_the_material_given(tresor, tmp_path):
    import os
    import subprocess

    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from conftest import bao_bin, tresor_bin

    server = tresor
    server.request("POST", "sys/mounts/transit", {"type": "transit"})
    env = {**os.environ, "VAULT_ADDR": server.addr, "BAO_ADDR": server.addr, "VAULT_TOKEN": "root",
           "BAO_TOKEN": "root", "HOME": str(tmp_path)}
    for cli, name in ((bao_bin(), "by-bao"), (tresor_bin(), "by-tresor")):
        material = os.urandom(32)
        out = subprocess.run(
            [cli, "transit", "import", f"transit/keys/{name}", base64.b64encode(material).decode(), "type=aes256-gcm96"],
            capture_output=True, text=True, env=env, timeout=60,
        )
        assert out.returncode == 0, (cli, out.stdout, out.stderr)
        assert "Success!" in out.stdout
        key = server.request("GET", f"transit/keys/{name}")[1]["data"]
        assert key["imported_key"] is True
        ciphertext = post(server, f"transit/encrypt/{name}", {"plaintext": B64})["ciphertext"]
        raw = sig_bytes(ciphertext)
        assert AESGCM(material).decrypt(raw[:12], raw[12:], None) == MESSAGE
        # Imported keys are not rotated unless allowed.
        status, answer = server.request("POST", f"transit/keys/{name}/rotate", {})
        assert status == 400, answer

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    out = subprocess.run(
        [tresor_bin(), "transit", "import", "transit/keys/rsa-imported", base64.b64encode(der).decode(),
         "type=rsa-2048"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert out.returncode == 0, (out.stdout, out.stderr)
    signature = post(server, "transit/sign/rsa-imported", {"input": B64, "signature_algorithm": "pkcs1v15"})["signature"]
    private.public_key().verify(sig_bytes(signature), MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    # A new version of imported material.
    second = os.urandom(32)
    out = subprocess.run(
        [tresor_bin(), "transit", "import-version", "transit/keys/by-tresor", base64.b64encode(second).decode()],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert out.returncode == 0, (out.stdout, out.stderr)
    ciphertext = post(server, "transit/encrypt/by-tresor", {"plaintext": B64})["ciphertext"]
    assert ciphertext.startswith("vault:v2:")
    raw = sig_bytes(ciphertext)
    assert AESGCM(second).decrypt(raw[:12], raw[12:], None) == MESSAGE
