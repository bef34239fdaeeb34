"""Hypothesis strategies for certificate subjects with unusual but legal content (issue 26),
shared by tests/test_distinguished_names.py (parser alone) and tests/test_gateway_subjects.py
(real nginx and HAProxy): any Unicode, every character RFC 4514 escapes, multi-valued RDNs,
leading and trailing spaces, the attribute types OpenSSL (so nginx and HAProxy) names."""

from __future__ import annotations

import re
import string

from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st

# Every character RFC 4514 2.4 escapes (NUL aside: see CHARACTERS), and the legacy form's
# separators "/" and "+", often enough that hypothesis combines them.
SPECIALS = ' "#+,;<>\\=/'
# Control characters (Cc) are left out: an HTTP header cannot carry them raw, and HAProxy's
# `ssl_c_s_dn` writes them as %XX next to a literal "%", so they cannot be read back from
# it (nginx's \xHH escapes are tested by example). Surrogates (Cs) are not UTF-8.
CHARACTERS = st.characters(exclude_categories=("Cc", "Cs")) | st.sampled_from(SPECIALS)
UTF8_TEXT = st.one_of(
    st.text(CHARACTERS, min_size=1, max_size=10),
    st.text(CHARACTERS, min_size=1, max_size=8).map(lambda text: f"  {text} "),  # RFC 4514 2.4
)
# PrintableString (X.680 41.4) and IA5String types: what cryptography encodes them as.
PRINTABLE_TEXT = st.text(
    st.sampled_from(string.ascii_letters + string.digits + " '()+,-./:=?"), min_size=1, max_size=10
)
IA5_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=10)
COUNTRY = st.sampled_from(["DE", "FR", "US", "JP"])

# The attribute types OpenSSL names (nginx and HAProxy print these names), with the
# values their ASN.1 string type can hold.
ATTRIBUTE_VALUES = {
    NameOID.COMMON_NAME: UTF8_TEXT,
    NameOID.SURNAME: UTF8_TEXT,
    NameOID.GIVEN_NAME: UTF8_TEXT,
    NameOID.INITIALS: UTF8_TEXT,
    NameOID.GENERATION_QUALIFIER: UTF8_TEXT,
    NameOID.PSEUDONYM: UTF8_TEXT,
    NameOID.TITLE: UTF8_TEXT,
    NameOID.ORGANIZATION_NAME: UTF8_TEXT,
    NameOID.ORGANIZATIONAL_UNIT_NAME: UTF8_TEXT,
    NameOID.ORGANIZATION_IDENTIFIER: UTF8_TEXT,
    NameOID.BUSINESS_CATEGORY: UTF8_TEXT,
    NameOID.STREET_ADDRESS: UTF8_TEXT,
    NameOID.LOCALITY_NAME: UTF8_TEXT,
    NameOID.STATE_OR_PROVINCE_NAME: UTF8_TEXT,
    NameOID.POSTAL_CODE: UTF8_TEXT,
    NameOID.USER_ID: UTF8_TEXT,
    NameOID.JURISDICTION_LOCALITY_NAME: UTF8_TEXT,
    NameOID.SERIAL_NUMBER: PRINTABLE_TEXT,
    NameOID.DN_QUALIFIER: PRINTABLE_TEXT,
    NameOID.DOMAIN_COMPONENT: IA5_TEXT,
    NameOID.EMAIL_ADDRESS: IA5_TEXT,
    NameOID.COUNTRY_NAME: COUNTRY,
    NameOID.JURISDICTION_COUNTRY_NAME: COUNTRY,
}


@st.composite
def rdns(draw) -> x509.RelativeDistinguishedName:
    """One RDN: one attribute, or two of different types (multi-valued)."""
    types = draw(st.lists(st.sampled_from(list(ATTRIBUTE_VALUES)), min_size=1, max_size=2,
                          unique=True))  # fmt: skip
    return x509.RelativeDistinguishedName(
        [x509.NameAttribute(oid, draw(ATTRIBUTE_VALUES[oid])) for oid in types]
    )


SUBJECTS = st.lists(rdns(), min_size=1, max_size=4).map(x509.Name)

# Where a value makes the legacy one-line form ambiguous: HAProxy escapes nothing, so a
# "/" or "+" before something like "CN=" reads as the next attribute; nginx does not escape
# the backslash, so one before "/", "+", "xHH" or at the end reads as an escape.
_LEGACY_AMBIGUOUS = re.compile(r"[/+][\w.-]*=|\\(?:[/+]|x[0-9A-Fa-f]{2}|$)")


def legacy_ambiguous(subject: x509.Name) -> bool:
    """Whether some value of `subject` cannot be read back from a legacy `/A=b` form."""
    return any(_LEGACY_AMBIGUOUS.search(attribute.value) for attribute in subject)
