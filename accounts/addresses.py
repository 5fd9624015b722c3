"""One email address, as a user or a customer gives it: parsed by the standard library, not a regex.

A value is accepted only when it is exactly one bare address: no display name, no comment, no list
(a comma or semicolon), no line break (header injection) and no invisible character. It comes back
NFKC-normalized and lower-cased, so look-alike spellings (full-width letters, ligatures) of one
address are the same address and cannot make a second account.
"""
from __future__ import annotations

import unicodedata
from email.utils import getaddresses

MAX_ADDRESS_LENGTH = 254
# Control, format (zero-width, bidi), separator and unassigned/private-use characters.
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
LOCAL_PART_SPECIALS = set('()<>[]:;@\\,"')


class AddressError(ValueError):
    """Not one usable address; the message says why."""


def address_key(raw: str) -> str:
    """The form addresses are stored and compared in: NFKC-normalized, trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", raw).strip().lower()


def single_address(raw: str, *, dotted_domain: bool = True) -> str:
    """The address, normalized; AddressError with the reason otherwise. Without `dotted_domain` a
    one-label domain is accepted (an account such as admin@localhost; mail is not sent to it)."""
    if any(unicodedata.category(character) in INVISIBLE_CATEGORIES for character in raw):
        raise AddressError("must not contain line breaks, control or invisible characters")
    value = address_key(raw)
    if not value:
        raise AddressError("must not be empty")
    if len(value) > MAX_ADDRESS_LENGTH:
        raise AddressError(f"must be at most {MAX_ADDRESS_LENGTH} characters")
    if any(separator in value for separator in ",;"):
        raise AddressError("must be one address, not a list")
    if any(character.isspace() for character in value):
        raise AddressError("must be a bare address like name@example.com, without spaces or a display name")
    parsed = getaddresses([value])
    if len(parsed) != 1 or parsed[0] != ("", value):
        raise AddressError("must be a bare address like name@example.com, without a display name or comment")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise AddressError("must look like name@example.com")
    if LOCAL_PART_SPECIALS & set(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise AddressError("has characters an address's name part cannot have")
    labels = domain.split(".")
    if (dotted_domain and len(labels) < 2) or not all(labels):
        raise AddressError("needs a domain with a dot, like example.com")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise AddressError("has a domain that is not a valid host name") from None
    if not all(label.replace("-", "").isalnum() and label.isascii() and not label.startswith("-")
               and not label.endswith("-") for label in ascii_domain.split(".")):
        raise AddressError("has a domain that is not a valid host name")
    return value
