"""Subject DNs as gateways print them, reduced to one comparable key.

A gateway prints the client's subject in one of two orders: RFC 4514 / RFC 2253
(`CN=client-1,O=acme`, most specific first: nginx `$ssl_client_s_dn` since 1.11.6,
HAProxy `ssl_c_s_dn(,0,rfc2253)`, Envoy's XFCC `Subject`) or OpenSSL's legacy one-line
form (`/O=acme/CN=client-1`, nginx `$ssl_client_s_dn_legacy`, HAProxy `ssl_c_s_dn`).
Both reduce to the same key: the sorted (OID, value) pairs, the value unescaped, its
runs of white space made one space, its ends trimmed and its case folded (LDAP's
caseIgnoreMatch), so neither the order a gateway chose nor its escaping matters.

The legacy form has two dialects. nginx (OpenSSL's X509_NAME_oneline, 3.0) escapes `/`
and `+` in values as `\\/` and `\\+`, other bytes outside printable ASCII as `\\xC3`,
and joins the attributes of a multi-valued RDN with `+`. HAProxy escapes nothing: raw
UTF-8, `/` and `+` as they are, every attribute after a `/`. So a legacy string is split
only at a `/` or `+` that is followed by an attribute type and `=`, and `\\/`, `\\+` and
`\\xHH` are unescaped. What neither dialect can carry is said in docs/gateways.md (a
value holding `/CN=` or a backslash before `/`, `+` or `xHH`): the RFC 2253 form can.
"""

from __future__ import annotations

import functools
import re

# The string attribute types of a subject, by OID, with the names OpenSSL prints (short
# and long; what gateways print) and the ones RFC 4514 and older tools use. cryptography's
# RFC 4514 parser knows only RFC 4514's names and is case-sensitive: a table of our own.
_NAMES_BY_OID = {
    "2.5.4.3": ("CN", "commonName"),
    "2.5.4.4": ("SN", "surname"),
    "2.5.4.5": ("serialNumber",),
    "2.5.4.6": ("C", "countryName"),
    "2.5.4.7": ("L", "localityName"),
    "2.5.4.8": ("ST", "S", "stateOrProvinceName"),
    "2.5.4.9": ("street", "streetAddress"),
    "2.5.4.10": ("O", "organizationName"),
    "2.5.4.11": ("OU", "organizationalUnitName"),
    "2.5.4.12": ("title",),
    "2.5.4.13": ("description",),
    "2.5.4.15": ("businessCategory",),
    "2.5.4.16": ("postalAddress",),
    "2.5.4.17": ("postalCode",),
    "2.5.4.18": ("postOfficeBox",),
    "2.5.4.19": ("physicalDeliveryOfficeName",),
    "2.5.4.20": ("telephoneNumber",),
    "2.5.4.41": ("name",),
    "2.5.4.42": ("GN", "givenName"),
    "2.5.4.43": ("initials",),
    "2.5.4.44": ("generationQualifier",),
    "2.5.4.46": ("dnQualifier",),
    "2.5.4.65": ("pseudonym",),
    "2.5.4.72": ("role",),
    "2.5.4.97": ("organizationIdentifier",),
    "0.9.2342.19200300.100.1.1": ("UID", "userId"),
    "0.9.2342.19200300.100.1.3": ("mail", "rfc822Mailbox"),
    "0.9.2342.19200300.100.1.25": ("DC", "domainComponent"),
    "1.2.840.113549.1.9.1": ("emailAddress", "E"),
    "1.2.840.113549.1.9.2": ("unstructuredName",),
    "1.3.6.1.4.1.311.60.2.1.1": ("jurisdictionL", "jurisdictionLocalityName"),
    "1.3.6.1.4.1.311.60.2.1.2": ("jurisdictionST", "jurisdictionStateOrProvinceName"),
    "1.3.6.1.4.1.311.60.2.1.3": ("jurisdictionC", "jurisdictionCountryName"),
}
_OIDS = {name.upper(): oid for oid, names in _NAMES_BY_OID.items() for name in names}
_TYPE = re.compile(r"^(?:[A-Za-z][\w-]*|\d+(?:\.\d+)+)$")
# Where a legacy string starts its next attribute: a known type (or a dotted OID) and "=".
_NEXT_LEGACY_TYPE = re.compile(
    r"(?:(?i:" + "|".join(sorted(map(re.escape, _OIDS), key=len, reverse=True)) + r")"
    r"|\d+(?:\.\d+)+)="
)
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")


@functools.lru_cache(maxsize=4096)  # the same few subjects, once per response
def subject_key(text: str) -> tuple[tuple[str, str], ...] | None:
    """The comparable key of a subject in RFC 4514 or legacy `/A=b/C=d` form; None if
    `text` is not a DN (no `TYPE=value` pairs)."""
    text = text.strip()
    if text.startswith("/"):
        attributes = _legacy_attributes(text[1:])
    else:
        attributes = [_rfc_attribute(part) for part in _split_unescaped(text, ",+")]
    key = []
    for name, value in attributes:
        oid = _oid(name.strip())
        if oid is None:
            return None
        key.append((oid, " ".join(value.split()).casefold()))
    return tuple(sorted(key)) or None


def _oid(name: str) -> str | None:
    if not _TYPE.match(name):
        return None
    return _OIDS.get(name.upper(), name if name[0].isdigit() else name.upper())


def _legacy_attributes(text: str) -> list[tuple[str, str]]:
    """`CN=a\\/b+UID=42/O=x` (after the leading `/`) -> [(type, value), ...]."""
    name, equals, _ = text.partition("=")
    if not equals:
        return [("", "")]
    attributes, value, index = [], bytearray(), len(name) + 1
    while index < len(text):
        char = text[index]
        escaped = text[index + 1 : index + 2]
        if char == "\\" and escaped in ("/", "+"):
            value += escaped.encode()
            index += 2
        elif char == "\\" and escaped == "x" and _HEX_PAIR.fullmatch(text[index + 2 : index + 4]):
            value.append(int(text[index + 2 : index + 4], 16))
            index += 4
        elif char in "/+" and (start := _NEXT_LEGACY_TYPE.match(text, index + 1)):
            attributes.append((name, _utf8(value)))
            name, value, index = start.group()[:-1], bytearray(), start.end()
        else:
            value += char.encode()
            index += 1
    attributes.append((name, _utf8(value)))
    return attributes


def _split_unescaped(text: str, separators: str) -> list[str]:
    """Split at separators that are neither backslash-escaped nor in a quoted value.

    A double quote opens a quoted value (RFC 1779: `O="Acme, Inc."`) only where a value
    starts; elsewhere it is a character.
    """
    parts, current, quoted, index = [], [], False, 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == '"' and (quoted or _at_value_start(current)):
            quoted = not quoted
        if char in separators and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _at_value_start(current: list[str]) -> bool:
    name, equals, value = "".join(current).partition("=")
    return bool(equals) and not value.strip(" ")


def _rfc_attribute(part: str) -> tuple[str, str]:
    name, equals, value = part.partition("=")
    if not equals:
        return "", ""
    unquoted = value.strip(" ")
    if unquoted.startswith("#"):
        return name, _ber_string(unquoted[1:])
    if len(unquoted) > 1 and unquoted.startswith('"') and unquoted.endswith('"'):
        value = unquoted[1:-1]  # RFC 1779 quoting, still printed by some tools
    return name, _unescape(value)


def _unescape(value: str) -> str:
    """RFC 4514 escapes: `\\,` style and `\\C3\\A9` hex bytes (OpenSSL's UTF-8 output).

    Runs before any trimming: `CN=\\ a\\ ` keeps its escaped spaces until the key folds
    them. A backslash left at the very end escaped a trailing space that HTTP dropped
    (header values lose their trailing white space, RFC 9110 5.5).
    """
    data, index = bytearray(), 0
    while index < len(value):
        char = value[index]
        pair = value[index + 1 : index + 3]
        if char == "\\" and _HEX_PAIR.fullmatch(pair):
            data.append(int(pair, 16))
            index += 3
        elif char == "\\":
            data += value[index + 1 : index + 2].encode()
            index += 2
        else:
            data += char.encode()
            index += 1
    return _utf8(data)


def _utf8(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _ber_string(hex_text: str) -> str:
    """`#0c03616263`: a hex BER string (OpenSSL prints an attribute of an OID it does not
    name this way; lengths of 128 bytes and more take 1 + N length bytes)."""
    try:
        data = bytes.fromhex(hex_text)
    except ValueError:
        data = b""
    if len(data) >= 2:
        length_bytes = data[1] - 0x80 if data[1] > 0x80 else 0
        length = int.from_bytes(data[2 : 2 + length_bytes]) if length_bytes else data[1]
        if len(data) == 2 + length_bytes + length:
            return _utf8(data[2 + length_bytes :])
    # Not a BER string after all: a value that starts with "#" which the gateway did not
    # escape (nginx prints `CN=#` for a CN of "#"), read as the text it is.
    return "#" + hex_text
