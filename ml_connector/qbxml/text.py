"""How a Python string becomes text QuickBooks Desktop will store as we meant it.

XML escaping is not done here: every builder creates elements with lxml, which escapes ``& < > " '``
itself, so user data is never concatenated into markup.

What *is* done here is the part XML cannot do for us. QuickBooks Desktop (US) keeps text in the
Windows-1252 code page. A character outside it is silently lost or makes the request fail, so we decide
what happens to it before sending:

* characters that Windows-1252 has (``Zoë``, ``Müller``, ``€``, curly quotes) are kept as they are;
* other letters are transliterated: compatibility decomposition (NFKD), then combining marks dropped,
  plus a small table for letters that have no decomposition (``Ł`` -> ``L``, ``Đ`` -> ``D``). Once a
  word needs that, the whole word is folded to its plain form, so ``Łódź`` becomes ``Lodz`` (the
  customary spelling) rather than the half-and-half ``Lódz``, while ``Zoë Müller`` stays untouched;
* what still cannot be represented (emoji, CJK, most symbols) is **dropped**, not replaced by ``?``.
  A ``?`` would end up in customer names and in name-uniqueness checks, where it looks like corrupted
  data; a dropped emoji loses nothing a bookkeeper needs. If dropping leaves a name empty, the caller
  gets a ``ValueError`` (or its fallback) rather than a blank record;
* control characters are removed (most are illegal in XML 1.0 and none is meaningful to QuickBooks);
* single-line fields have runs of whitespace collapsed to one space; multi-line fields (notes, memos,
  descriptions) keep their line breaks, normalised to ``\\n``;
* the result is cut to the field's maximum length, counted in characters (after the steps above every
  character is one Windows-1252 byte, so characters and bytes agree).
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX_LEN = 41
"""QuickBooks' limit for list Names (Customer, Vendor, Employee, Other Name)."""

# Letters that NFKD leaves alone because they are not "letter + accent" in Unicode.
_NO_DECOMPOSITION = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ħ": "H",
        "ħ": "h",
        "ı": "i",
        "ĸ": "k",
        "Ŀ": "L",
        "ŀ": "l",
        "Ŋ": "N",
        "ŋ": "n",
        "Ŧ": "T",
        "ŧ": "t",
        "ǀ": "|",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "―": "-",
        "−": "-",
        "⁄": "/",
        "′": "'",
        "″": '"',
        "‚": ",",
    }
)

_WHITESPACE_RUN = re.compile(r"\s+")
_KEPT_WHITESPACE = " \t\n\r"
_WORD_OR_SPACE = re.compile(r"[ \t\n\r]+|[^ \t\n\r]+")
_SPACES_IN_LINE = re.compile(r"[^\S\n]+")


def _in_cp1252(ch: str) -> bool:
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _is_control(ch: str) -> bool:
    # Cc covers C0, DEL and C1. Cs (lone surrogates) and Co (private use) can't be stored either.
    return unicodedata.category(ch) in {"Cc", "Cs", "Co", "Cn"}


def _transliterate(ch: str) -> str:
    """Best Windows-1252 spelling of one character that the code page lacks, or "" to drop it."""
    mapped = ch.translate(_NO_DECOMPOSITION)
    if mapped != ch:
        return mapped
    decomposed = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    if kept and kept != ch and all(_in_cp1252(c) and not _is_control(c) for c in kept):
        # NFKD also maps exotic spaces (thin, ideographic …) to " ", which whitespace handling tidies.
        return kept
    category = unicodedata.category(ch)
    if category == "Zs":
        return " "
    if category in ("Zl", "Zp"):
        return "\n"
    return ""


def _fold(ch: str) -> str:
    """The unaccented form of a Windows-1252 letter (``ó`` -> ``o``); other characters unchanged."""
    kept = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return kept if kept and all(_in_cp1252(c) for c in kept) else ch


def _word_to_cp1252(word: str) -> str:
    out: list[str] = []
    folded_word = False
    for ch in word:
        if _is_control(ch) or unicodedata.category(ch) == "Cf":
            # Cf: invisible format characters (zero-width joiners, BOM, soft hyphen) mean nothing in QB.
            continue
        if _in_cp1252(ch):
            out.append(ch)
            continue
        replacement = _transliterate(ch)
        folded_word = folded_word or any(c.isalpha() for c in replacement)
        out.append(replacement)
    if folded_word:
        return "".join(_fold(ch) for ch in "".join(out))
    return "".join(out)


def to_cp1252(value: str) -> str:
    """Replace or drop every character Windows-1252 cannot hold; keep the rest untouched.

    Works word by word (see the module docstring for why a transliterated word is folded whole).
    Control characters other than tab and line breaks are removed here as well. Whitespace is not
    normalised (see :func:`qb_text`).
    """
    # Vertical tab and form feed are whitespace to a reader but illegal in XML 1.0: make them spaces.
    text = unicodedata.normalize("NFC", value).replace("\v", " ").replace("\f", " ")
    parts = _WORD_OR_SPACE.findall(text)
    return "".join(part if part[0] in _KEPT_WHITESPACE else _word_to_cp1252(part) for part in parts)


def qb_text(value: str, max_len: int | None = None, *, multiline: bool = False) -> str:
    """Text ready for a QuickBooks string field: Windows-1252 only, tidy whitespace, at most ``max_len``.

    ``multiline`` keeps line breaks (for Notes, Memo, Desc); otherwise every whitespace run, line breaks
    included, becomes one space. Leading and trailing whitespace is always removed, including any left
    at the end by the cut, so a cut never produces ``"Acme "``.
    """
    if not isinstance(value, str):
        raise TypeError(f"QuickBooks text must be str, not {type(value).__name__}")
    if max_len is not None and max_len < 1:
        raise ValueError("max_len must be at least 1")
    text = to_cp1252(value)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = [_SPACES_IN_LINE.sub(" ", line).strip() for line in text.split("\n")]
        text = "\n".join(lines).strip()
    else:
        text = _WHITESPACE_RUN.sub(" ", text).strip()
    if max_len is not None and len(text) > max_len:
        text = text[:max_len].rstrip()
    return text


def fit_name(value: str, *, max_len: int = NAME_MAX_LEN, fallback: str | None = None) -> str:
    """A list-element Name (customer, item, account …) QuickBooks will accept.

    Besides :func:`qb_text` on one line, a colon becomes a hyphen: QuickBooks uses ``:`` to separate the
    levels of a FullName (``Parent:Child``), so a colon inside a name would read as a sub-customer path.
    When nothing representable is left (a name written only in CJK or emoji), ``fallback`` goes through
    the same rules; without a usable fallback this raises ``ValueError``, because QuickBooks requires a
    non-empty Name and guessing one silently would hide the problem.
    """
    if not isinstance(value, str):
        raise TypeError(f"a name must be str, not {type(value).__name__}")
    name = qb_text(value.replace(":", "-"), max_len)
    if name:
        return name
    if fallback is not None:
        name = qb_text(fallback.replace(":", "-"), max_len)
        if name:
            return name
    raise ValueError(f"no QuickBooks-representable characters left in name {value!r}")


def unique_name_variant(name: str, attempt: int, *, max_len: int = NAME_MAX_LEN) -> str:
    """The ``attempt``-th alternative for a name QuickBooks rejected with 3100 (name in use).

    ``unique_name_variant("Acme Corp", 2) == "Acme Corp (2)"``. The base is shortened, never the
    suffix, so every variant still fits ``max_len`` and variants of a long name stay distinct. Names are
    unique across customers, vendors, employees and other names, so a clash is often with a record that
    is not a customer at all; adding a counter is how a person would resolve it too.
    """
    if attempt < 2:
        raise ValueError("attempt counts from 2 (the original name is attempt 1)")
    suffix = f" ({attempt})"
    if len(suffix) >= max_len:
        raise ValueError(f"attempt {attempt} cannot fit a name of {max_len} characters")
    base = fit_name(name, max_len=max_len)
    base = base[: max_len - len(suffix)].rstrip()
    return f"{base}{suffix}"
