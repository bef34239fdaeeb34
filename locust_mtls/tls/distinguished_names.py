"""Subject DNs as gateways print them, reduced to one comparable key.

A gateway prints the client's subject in one of two orders: RFC 4514 / RFC 2253
(`CN=client-1,O=acme`, most specific first: nginx `$ssl_client_s_dn` since 1.11.6,
HAProxy `ssl_c_s_dn(,,rfc2253)`, Envoy's XFCC `Subject`) or OpenSSL's legacy one-line
form (`/O=acme/CN=client-1`, nginx `$ssl_client_s_dn_legacy`, HAProxy `ssl_c_s_dn`).
Both reduce to the same key: the sorted (OID, case-folded value) pairs, so the order a
gateway chose never matters.
"""

from __future__ import annotations

import functools
import re

# OpenSSL's short and long names (what gateways print) -> OID. cryptography's RFC 4514
# parser knows only the RFC 4514 names and is case-sensitive, so a small table of our own.
_OIDS = {
    "CN": "2.5.4.3",
    "COMMONNAME": "2.5.4.3",
    "SN": "2.5.4.4",
    "SURNAME": "2.5.4.4",
    "SERIALNUMBER": "2.5.4.5",
    "C": "2.5.4.6",
    "COUNTRYNAME": "2.5.4.6",
    "L": "2.5.4.7",
    "LOCALITYNAME": "2.5.4.7",
    "ST": "2.5.4.8",
    "S": "2.5.4.8",
    "STATEORPROVINCENAME": "2.5.4.8",
    "STREET": "2.5.4.9",
    "O": "2.5.4.10",
    "ORGANIZATIONNAME": "2.5.4.10",
    "OU": "2.5.4.11",
    "ORGANIZATIONALUNITNAME": "2.5.4.11",
    "TITLE": "2.5.4.12",
    "GN": "2.5.4.42",
    "GIVENNAME": "2.5.4.42",
    "DC": "0.9.2342.19200300.100.1.25",
    "UID": "0.9.2342.19200300.100.1.1",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
    "E": "1.2.840.113549.1.9.1",
}
_LEGACY_SPLIT = re.compile(r"/(?=[A-Za-z][\w.-]*=)")
_TYPE = re.compile(r"^(?:[A-Za-z][\w-]*|\d+(?:\.\d+)+)$")


@functools.lru_cache(maxsize=4096)  # the same few subjects, once per response
def subject_key(text: str) -> tuple[tuple[str, str], ...] | None:
    """The comparable key of a subject in RFC 4514 or legacy `/A=b/C=d` form; None if
    `text` is not a DN (no `TYPE=value` pairs)."""
    text = text.strip()
    if text.startswith("/"):
        pairs = [part.partition("=") for part in _LEGACY_SPLIT.split(text[1:])]
        attributes = [(name, value) for name, _, value in pairs]
    else:
        attributes = [_split_pair(part) for part in _split_unescaped(text, ",+")]
    key = []
    for name, value in attributes:
        oid = _oid(name.strip())
        if oid is None:
            return None
        key.append((oid, " ".join(value.split()).casefold()))
    return tuple(sorted(key)) or None


def looks_like_subject(text: str) -> bool:
    """Whether `text` reads as a DN (RFC 4514 or legacy order)."""
    return subject_key(text) is not None


def _oid(name: str) -> str | None:
    if not _TYPE.match(name):
        return None
    return _OIDS.get(name.upper(), name if name[0].isdigit() else name.upper())


def _split_unescaped(text: str, separators: str) -> list[str]:
    """Split at separators that are neither backslash-escaped nor inside double quotes."""
    parts, current, quoted, index = [], [], False, 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        if char in separators and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _split_pair(part: str) -> tuple[str, str]:
    name, equals, value = part.partition("=")
    if not equals:
        return "", ""
    value = value.strip()
    if value.startswith("#"):
        return name, _ber_string(value[1:])
    return name, _unescape(value)


def _unescape(value: str) -> str:
    """RFC 4514 escapes: `\\,` style and `\\C3\\A9` hex bytes (OpenSSL's UTF-8 output)."""
    if value.startswith('"') and value.endswith('"') and len(value) > 1:
        value = value[1:-1]  # RFC 1779 quoting, still printed by some tools
    data, index = bytearray(), 0
    while index < len(value):
        char = value[index]
        pair = value[index + 1 : index + 3]
        if char == "\\" and re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
            data.append(int(pair, 16))
            index += 3
        elif char == "\\" and index + 1 < len(value):
            data += value[index + 1].encode()
            index += 2
        else:
            data += char.encode()
            index += 1
    return data.decode("utf-8", errors="replace")


def _ber_string(hex_text: str) -> str:
    """`#160f…`: a hex BER string (cryptography prints emailAddress this way)."""
    try:
        data = bytes.fromhex(hex_text)
    except ValueError:
        return "#" + hex_text
    if len(data) >= 2 and data[1] < 0x80:
        data = data[2 : 2 + data[1]]
    return data.decode("utf-8", errors="replace")
