"""framework/calico/selector.py: what Calico's selector parser accepts and refuses."""
from __future__ import annotations

import pytest

from framework.calico.selector import SelectorError, parse, quote

LABELS = {"htcmesos.pool": "alpha", "htcmesos.role": "master", "app": "web-1"}


@pytest.mark.parametrize("text,want", [
    ("", True), ("all()", True), ("has(app)", True), ("!has(app)", False),
    ('htcmesos.pool == "alpha"', True), ("htcmesos.pool == 'beta'", False),
    ('missing != "x"', True),                       # != is true when the label is absent
    ('htcmesos.role in {"master", "submitter"}', True),
    ('htcmesos.role not in {"master"}', False), ('missing not in {"a"}', True),
    ('app contains "b-"', True), ('app starts with "web"', True), ('app endswith "-1"', True),
    ('htcmesos.pool == "alpha" && htcmesos.role == "executor"', False),
    ('htcmesos.pool == "beta" || htcmesos.role == "master"', True),
    ('!(htcmesos.pool == "beta" || has(x)) && has(app)', True),
    ('!!has(app)', True),
])
def test_matches(text, want):
    assert parse(text).matches(LABELS) is want


@pytest.mark.parametrize("text,why", [
    ('a = "b"', "expected =="), ('a == b', "expected a quoted string"),
    ('a == "b', "unterminated string"), ('(a == "b"', r"expected \)"),
    ('a in {"x" "y"}', "expected }"), ("a", "expected == or !="),
    ('a == "b" c == "d"', "unexpected content"), ("has()", "no label name"),
    ('a & b', "expected &&"), ("a ~ 'b'", "expected an operator"), ("all(x)", "closing"),
    ('@ == "x"', "unexpected character"),
])
def test_refuses(text, why):
    with pytest.raises(SelectorError, match=why):
        parse(text)


def test_quote_picks_a_quote_or_refuses():
    assert quote("a") == '"a"' and quote('say "hi"') == "'say \"hi\"'"
    with pytest.raises(SelectorError):
        quote("""both ' and " """)
