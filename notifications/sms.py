"""SMS text: normalise to GSM-7 where it costs nothing, and count segments as carriers bill them."""

from __future__ import annotations

import math

# GSM 03.38 basic character set and its extension table (extension characters cost two septets).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

# Typography that silently forces UCS-2 (70 characters a segment instead of 160) for no gain.
# Letters are never touched: "ó" stays "ó" even if that costs UCS-2, because the meaning matters.
_FREE_REPLACEMENTS = {
    "\u00a0": " ",  # no-break space
    "\u202f": " ",  # narrow no-break space (French before ! ? :)
    "\u2009": " ",  # thin space
    "\u2007": " ",
    "\u200b": "",  # zero-width space
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00ab": '"',  # « »
    "\u00bb": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2022": "-",
    "\u00b4": "'",
    "\u02bc": "'",
}


def normalise_gsm(text: str) -> str:
    return "".join(_FREE_REPLACEMENTS.get(ch, ch) for ch in text)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def segments(text: str) -> tuple[int, str]:
    """(number of segments, "GSM-7" or "UCS-2") for this text."""
    if is_gsm7(text):
        septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        return (1 if septets <= 160 else math.ceil(septets / 153)), "GSM-7"
    units = len(text.encode("utf-16-le")) // 2
    return (1 if units <= 70 else math.ceil(units / 67)), "UCS-2"
