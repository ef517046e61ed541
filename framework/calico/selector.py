"""Calico's label-selector syntax: parse (and so validate) a selector before it is written.

Grammar as Calico's own tokenizer and parser accept it
(libcalico-go/lib/selector/tokenizer/tokenizer.go, parser/parser.go):

    or   := and ( "||" and )*            lowest precedence
    and  := op ( "&&" op )*
    op   := "!"* ( has(k) | all() | global() | "(" or ")"
                 | k == "v" | k != "v" | k contains "v" | k starts with "v"
                 | k ends with "v" | k in {"a", …} | k not in {…} )

Label names: ``[A-Za-z0-9_./-]{1,512}``; string literals in ``"…"`` or ``'…'`` with no
escapes; an empty selector means ``all()``. ``global()`` belongs in namespace selectors
only (the API validator's rule, not the parser's).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Union

from ..errors import SelectorError

LABEL_KEY = r"[A-Za-z0-9_./-]{1,512}"
_LABEL = re.compile(LABEL_KEY)
_WS = " \t"


@dataclass(frozen=True)
class Tok:
    kind: str      # label, str, op (==, !=, &&, ||, !, (, ), {, }, ','), word (in, not in,
    value: str     # contains, starts with, ends with), has, all, global, eof
    at: int


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WS:
            i += 1
        if i >= n:
            toks.append(Tok("eof", "", i))
            return toks
        ch, rest = text[i], text[i:]
        if ch in "(){},":
            toks.append(Tok("op", ch, i))
            i += 1
        elif ch in "\"'":
            end = text.find(ch, i + 1)
            if end < 0:
                raise SelectorError(f"unterminated string at column {i + 1}")
            toks.append(Tok("str", text[i + 1:end], i))
            i = end + 1
        elif rest[:2] in ("==", "!=", "&&", "||"):
            toks.append(Tok("op", rest[:2], i))
            i += 2
        elif ch == "!":
            toks.append(Tok("op", "!", i))
            i += 1
        elif ch in "=&|":
            raise SelectorError(f"expected {ch * 2} at column {i + 1}")
        elif toks and toks[-1].kind == "label":
            # after a label only an operator word may follow (the tokenizer's rule)
            m = re.match(r"(contains|starts[ \t]*with|ends[ \t]*with|not[ \t]*in|in)", rest)
            if not m:
                raise SelectorError(f"expected an operator after label '{toks[-1].value}' "
                                    f"at column {i + 1}")
            first = m.group(1)[:3]
            words = {"con": "contains", "sta": "starts with", "end": "ends with",
                     "not": "not in", "in": "in"}
            toks.append(Tok("word", words[first[:2] if first.startswith("in") else first], i))
            i += len(m.group(1))
        else:
            m = re.match(r"(has|all|global)\([ \t]*", rest)
            if m:
                j = i + m.end()
                name = ""
                if m.group(1) == "has":
                    lm = _LABEL.match(text, j)
                    if not lm:
                        raise SelectorError(f"no label name in has( at column {i + 1}")
                    name, j = lm.group(0), lm.end()
                    while j < n and text[j] in _WS:
                        j += 1
                if j >= n or text[j] != ")":
                    raise SelectorError(f"no closing ')' after {m.group(1)}( at column {i + 1}")
                toks.append(Tok(m.group(1), name, i))
                i = j + 1
                continue
            lm = _LABEL.match(text, i)
            if not lm:
                raise SelectorError(f"unexpected character {ch!r} at column {i + 1}")
            toks.append(Tok("label", lm.group(0), i))
            i = lm.end()


# -- the tree: each node answers matches(labels) ---------------------------------------

Labels = Mapping[str, str]


@dataclass(frozen=True)
class All:
    def matches(self, labels: Labels) -> bool:
        return True


@dataclass(frozen=True)
class Global:
    def matches(self, labels: Labels) -> bool:
        return True


@dataclass(frozen=True)
class Has:
    key: str

    def matches(self, labels: Labels) -> bool:
        return self.key in labels


@dataclass(frozen=True)
class Compare:
    key: str
    op: str                     # ==, !=, contains, starts with, ends with, in, not in
    values: tuple[str, ...]

    def matches(self, labels: Labels) -> bool:
        have = labels.get(self.key)
        if self.op == "!=":     # true when the label is absent (parser/ast.go LabelNeValueNode)
            return have != self.values[0]
        if self.op == "not in":
            return have not in self.values
        if have is None:
            return False
        if self.op == "in":                     # the set may be empty: "k in {}"
            return have in self.values
        v = self.values[0]
        return {"==": have == v, "contains": v in have, "starts with": have.startswith(v),
                "ends with": have.endswith(v)}[self.op]


@dataclass(frozen=True)
class Not:
    inner: "Node"

    def matches(self, labels: Labels) -> bool:
        return not self.inner.matches(labels)


@dataclass(frozen=True)
class AnyOf:
    items: tuple["Node", ...]
    both: bool                  # True: && of items; False: || of items

    def matches(self, labels: Labels) -> bool:
        test = all if self.both else any
        return test(i.matches(labels) for i in self.items)


Node = Union[All, Global, Has, Compare, Not, AnyOf]


class _Parser:
    def __init__(self, text: str):
        self.text, self.toks, self.i = text, tokenize(text), 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def fail(self, what: str) -> SelectorError:
        tok = self.peek()
        shown = "end of selector" if tok.kind == "eof" else repr(tok.value or tok.kind)
        return SelectorError(f"{what}, found {shown} at column {tok.at + 1}")

    def expr(self, both: bool = False) -> Node:
        sub = self.op if both else (lambda: self.expr(True))
        items = [sub()]
        joiner = "&&" if both else "||"
        while self.peek().kind == "op" and self.peek().value == joiner:
            self.take()
            items.append(sub())
        return items[0] if len(items) == 1 else AnyOf(tuple(items), both)

    def op(self) -> Node:
        negated = False
        while self.peek().kind == "op" and self.peek().value == "!":
            self.take()
            negated = not negated
        tok = self.take()
        node: Node
        if tok.kind == "has":
            node = Has(tok.value)
        elif tok.kind == "all":
            node = All()
        elif tok.kind == "global":
            node = Global()
        elif tok.kind == "op" and tok.value == "(":
            node = self.expr()
            if not (self.peek().kind == "op" and self.peek().value == ")"):
                raise self.fail("expected )")
            self.take()
        elif tok.kind == "label":
            node = self.comparison(tok.value)
        else:
            self.i -= 1 if tok.kind != "eof" else 0
            raise self.fail("expected a label, has(…), all() or (")
        return Not(node) if negated else node

    def comparison(self, key: str) -> Node:
        op = self.take()
        if op.kind == "op" and op.value in ("==", "!="):
            word = op.value
        elif op.kind == "word":
            word = op.value
        else:
            self.i -= 1 if op.kind != "eof" else 0
            raise self.fail(f"expected == or != after label '{key}'")
        if word in ("in", "not in"):
            if not (self.peek().kind == "op" and self.peek().value == "{"):
                raise self.fail(f"expected {{ after '{word}'")
            self.take()
            values: list[str] = []
            while self.peek().kind == "str":
                values.append(self.take().value)
                if self.peek().kind == "op" and self.peek().value == ",":
                    self.take()
                else:
                    break
            if not (self.peek().kind == "op" and self.peek().value == "}"):
                raise self.fail("expected } (values are quoted strings, comma-separated)")
            self.take()
            return Compare(key, word, tuple(values))
        if self.peek().kind != "str":
            raise self.fail(f"expected a quoted string after '{word}'")
        return Compare(key, word, (self.take().value,))


def parse(text: str) -> Node:
    """The selector's tree; an empty selector is ``all()``. Raises :class:`SelectorError`."""
    p = _Parser(text)
    if p.peek().kind == "eof":
        return All()
    node = p.expr()
    if p.peek().kind != "eof":
        raise p.fail("unexpected content at end of selector")
    return node


def quote(value: str) -> str:
    """A string literal for a selector (Calico has no escapes: refuse both quote kinds)."""
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    raise SelectorError(f"{value!r} holds both quote characters: no selector can name it")
