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


# -- behaviours read in libcalico-go/lib/selector/tokenizer/tokenizer.go and parser/ast.go --

EDGE = {"in": "x", "in-zone": "z", "contains/k": "v", "notin": "q", "a": "1"}


@pytest.mark.parametrize("text,want", [
    # an operator word is one only right after a label (lastTokKind == TokLabel):
    # elsewhere it starts a label name
    ('in == "x"', True), ('in-zone == "z"', True), ('contains/k == "v"', True),
    ('notin == "q"', True),
    # "not in", "starts with", "ends with" may be written without the space
    ('a notin {"2"}', True), ('a startswith "1"', True), ('a endswith "1"', True),
    # set literals: a trailing comma and the empty set parse
    ('a in {"1",}', True), ('a in {}', False), ('a not in {}', True),
    ('missing in {}', False), ('missing not in {}', True),
    # absent label: != and "not in" true; ==, in, contains, starts/ends with false
    ('missing != "1"', True), ('missing == "1"', False), ('missing contains ""', False),
    ('missing starts with ""', False), ('missing ends with ""', False),
    ('! has(missing)', True),
    # precedence: && binds tighter than ||; "!" applies to one operation
    ('a == "1" || a == "2" && has(missing)', True),
    ('(a == "1" || a == "2") && has(missing)', False),
    ('!a == "2" && has(a)', True), ('!(a == "1") || has(missing)', False),
    # a label of the maximum length, 512
    ("x" * 512 + ' != "1"', True),
])
def test_edge_cases_match_upstream(text, want):
    assert parse(text).matches(EDGE) is want


@pytest.mark.parametrize("text", [
    'a in {"1" "2"}',          # values need commas
    "has (a)",                 # "has(" must be one token; "has" is a label here
    'a\n== "1"',               # only spaces and tabs are whitespace
    'a inx {"1"}',             # an operator word needs a word boundary
    "x" * 513 + ' == "1"',     # labels are at most 512 characters
    'a == "1" &&',             # an operand is missing
    "a in 'x'",                # in needs a set
    '"a" == "b"',              # a label, not a string, on the left
])
def test_edge_cases_refused_like_upstream(text):
    with pytest.raises(SelectorError):
        parse(text)
