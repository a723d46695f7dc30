"""WeCom's callback encryption (回调消息加解密): how a callback is known to come from WeCom and
read. Facts from WeCom's published scheme:

- the signature is the SHA-1 of the token, the timestamp, the nonce and the encrypted text,
  sorted and joined (`msg_signature` in the query);
- the key is the 43-character EncodingAESKey, base64 with its "=" restored: 32 bytes, for
  AES-256-CBC with the key's first 16 bytes as IV and PKCS#7 padding to 32-byte blocks;
- the plain text is 16 random bytes, the message's length (4 bytes, big-endian), the message,
  and the id of whoever it is for (the corp id).

Only decryption is needed here: qunzhu answers a callback with a plain "success".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # PKCS#7 padding to 32 bytes, not AES's 16


class CallbackError(ValueError):
    """Not a callback from WeCom: a wrong signature, key or corp, or a broken message."""


def key_of(encoding_aes_key: str) -> bytes:
    """The AES key an EncodingAESKey stands for; CallbackError where it is not one."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise CallbackError("the EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise CallbackError("the EncodingAESKey is not 43 characters")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypted))).encode()).hexdigest()


def verified(token: str, timestamp: str, nonce: str, encrypted: str, given: str) -> bool:
    return hmac.compare_digest(signature(token, timestamp, nonce, encrypted), given)


def decrypt(key: bytes, encrypted: str, receiver: str) -> bytes:
    """The message inside `encrypted`, checked to be for `receiver` (the corp id)."""
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise CallbackError("the message is not base64") from None
    if not data or len(data) % 16:
        raise CallbackError("the message is not whole blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise CallbackError("the message's padding is wrong")
    plain = plain[16:-pad]
    if len(plain) < 4:
        raise CallbackError("the message is too short")
    length = int.from_bytes(plain[:4], "big")
    message, to = plain[4 : 4 + length], plain[4 + length :]
    if len(message) != length or to.decode("utf-8", "replace") != receiver:
        raise CallbackError("the message is not for this corp")
    return message
