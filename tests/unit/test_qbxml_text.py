"""Text QuickBooks stores: Windows-1252 only, tidy, within each field's limit."""

from __future__ import annotations

import pytest

from ml_connector.qbxml.text import NAME_MAX_LEN, fit_name, qb_text, to_cp1252, unique_name_variant


@pytest.mark.parametrize(
    "value",
    ["Zoë Müller", "Crème brûlée", "Øresund Straße", "Price €5 – “quoted” ‘single’ …", "Ångström Æsir Œuvre"],
)
def test_characters_windows_1252_has_are_kept_exactly_as_typed(value: str) -> None:
    assert qb_text(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Łódź", "Lodz"),
        ("Đorđe", "Dorde"),
        ("Ärger mit Łukasz", "Ärger mit Lukasz"),
        ("Şişli İstanbul", "Sisli Istanbul"),
        ("Ａｃｍｅ", "Acme"),
        ("ﬁne", "fine"),
        ("Dvořák", "Dvorak"),
    ],
)
def test_words_with_letters_outside_windows_1252_get_their_plain_spelling(value: str, expected: str) -> None:
    assert qb_text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Hello 😀 World", "Hello World"),
        ("Zoë😀", "Zoë"),
        ("山田太郎 Trading", "Trading"),
        ("👍🏽 great", "great"),
        ("family 👨‍👩‍👧", "family"),
    ],
)
def test_emoji_and_cjk_are_dropped_rather_than_turned_into_question_marks(value: str, expected: str) -> None:
    assert qb_text(value) == expected


def test_control_characters_are_removed_and_vertical_tabs_become_spaces() -> None:
    assert qb_text("a\x00b\x07c\x1bd") == "abcd"
    assert qb_text("one\x0btwo\x0cthree") == "one two three"
    assert qb_text("zero\u200bwidth\ufeff") == "zerowidth"


def test_single_line_fields_collapse_all_whitespace_including_line_breaks() -> None:
    assert qb_text("  Acme \t  Corp\r\nLtd  ") == "Acme Corp Ltd"
    assert qb_text("non\u00a0breaking\u2009thin") == "non breaking thin"


def test_multiline_fields_keep_line_breaks_normalised_to_newline() -> None:
    assert qb_text(" line one  \r\nline   two\rline three\u2028four ", multiline=True) == (
        "line one\nline two\nline three\nfour"
    )


def test_the_length_limit_counts_characters_not_utf8_bytes() -> None:
    assert qb_text("é" * 50, 41) == "é" * 41


def test_a_cut_never_leaves_a_trailing_space() -> None:
    assert qb_text("Acme Corporation International", 5) == "Acme"


def test_every_result_is_encodable_in_windows_1252() -> None:
    sample = "".join(chr(c) for c in range(0, 0x3100)) + "😀🇵🇱𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
    for start in range(0, len(sample), 97):
        chunk = sample[start : start + 97]
        qb_text(chunk).encode("cp1252")
        qb_text(chunk, multiline=True).encode("cp1252")
        to_cp1252(chunk).encode("cp1252")


def test_non_text_is_refused() -> None:
    with pytest.raises(TypeError):
        qb_text(42)  # type: ignore[arg-type]


def test_a_60_character_name_is_fitted_to_the_41_character_list_limit() -> None:
    name = "The Extraordinarily Long Named Company of Greater Springfield"
    assert len(name) == 61
    fitted = fit_name(name)
    assert len(fitted) <= NAME_MAX_LEN
    assert name.startswith(fitted)


def test_a_colon_in_a_name_cannot_create_a_sub_customer_path() -> None:
    assert fit_name("Acme: West") == "Acme- West"


def test_a_name_with_nothing_representable_uses_the_fallback_or_refuses() -> None:
    assert fit_name("山田太郎", fallback="cus_N1 yamada@example.jp") == "cus_N1 yamada@example.jp"
    with pytest.raises(ValueError):
        fit_name("😀😀")
    with pytest.raises(ValueError):
        fit_name("😀", fallback="   ")


def test_unique_name_variants_count_from_two_and_always_fit() -> None:
    assert unique_name_variant("Acme Corp", 2) == "Acme Corp (2)"
    long_name = "A" * 38 + " Corporation"
    variant = unique_name_variant(long_name, 12)
    assert len(variant) == NAME_MAX_LEN
    assert variant.endswith(" (12)")
    assert unique_name_variant(long_name, 12) != unique_name_variant(long_name, 13)


def test_unique_name_variants_clean_the_base_like_any_name() -> None:
    assert unique_name_variant("Łódź: Bakery 🍞", 3) == "Lodz- Bakery (3)"


def test_the_original_name_is_not_a_variant() -> None:
    with pytest.raises(ValueError):
        unique_name_variant("Acme", 1)
