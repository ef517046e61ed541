"""A small PromQL reader for the tests of the alerts and the Grafana dashboards: the metric
names, label matchers and grouping labels an expression uses (:func:`promql_uses`), what a
``/metrics`` scrape exports (:func:`parse_exposition`), and what an expression reads that
the scrape lacks (:func:`problems`). Not a PromQL parser: a tokenizer that skips
functions, aggregations, keywords, strings, numbers, durations, ranges and Grafana
variables, which is all these checks need."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

#: labels Prometheus adds to every scraped series
TARGET_LABELS = {"job", "instance"}

_TOKEN = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$\w+|\[\[\w+\]\])                 # Grafana variables
  | (?P<range>\[[^\]]*\])                                    # [5m], [1h:1m], [$__rate_interval]
  | (?P<number>(?:\d+(?:ms|[smhdwy]))+(?![\w.])             # durations (offset 5m)
                |0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<lbrace>\{) | (?P<rbrace>\}) | (?P<lparen>\() | (?P<rparen>\)) | (?P<comma>,)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=@])
""", re.VERBOSE)
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                 "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}


@dataclass
class Selector:
    """One vector selector: the metric name and its matchers (label → (op, value))."""

    name: str
    matchers: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Uses:
    """What one PromQL expression reads."""

    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)     # by/without/on/ignoring/group_x

    @property
    def names(self) -> set[str]:
        return {s.name for s in self.selectors}


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot read PromQL at {pos}: {expr[pos:pos + 30]!r}")
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
        pos = m.end()
    return out


def _unquote(s: str) -> str:
    return s[1:-1].replace('\\"', '"').replace("\\\\", "\\") if s[0] in "\"'" else s[1:-1]


def promql_uses(expr: str) -> Uses:
    """The selectors and grouping labels of ``expr``: skips functions and aggregations
    (an identifier before ``(``), keywords, strings, numbers, durations and ranges,
    Grafana variables; ``{__name__="x"}`` names x."""
    toks, uses, i = _tokens(expr), Uses(), 0

    def matchers(j: int, sel: Selector) -> int:       # toks[j] is "{"; → index after "}"
        j += 1
        while toks[j][0] != "rbrace":
            if toks[j][0] == "comma":
                j += 1
                continue
            label, op, value = toks[j][1], toks[j + 1][1], toks[j + 2]
            if value[0] not in ("string", "var"):
                raise ValueError(f"bad matcher {label}{op}{value[1]} in {expr!r}")
            sel.matchers[label] = (op, _unquote(value[1]) if value[0] == "string" else value[1])
            j += 3
        return j + 1

    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][0] if i + 1 < len(toks) else None
        if kind == "ident" and text.lower() in _GROUPING and nxt == "lparen":
            i += 2
            while toks[i][0] != "rparen":
                if toks[i][0] == "ident":
                    uses.grouping.add(toks[i][1])
                i += 1
            i += 1
        elif kind == "ident" and (text.lower() in _KEYWORDS or nxt == "lparen"
                                  or text in _AGGREGATIONS and nxt == "ident"):
            i += 1
        elif kind == "ident":
            sel = Selector(text)
            uses.selectors.append(sel)
            i = matchers(i + 1, sel) if nxt == "lbrace" else i + 1
        elif kind == "lbrace":
            sel = Selector("")
            i = matchers(i, sel)
            sel.name = sel.matchers.pop("__name__", ("=", ""))[1]
            uses.selectors.append(sel)
        else:
            i += 1
    return uses


# -- what /metrics exports ----------------------------------------------------------------

@dataclass
class Exported:
    """A scrape: family name → type, sample name → family, sample name → label → values."""

    families: dict[str, str]
    family_of_sample: dict[str, str]
    labels: dict[str, dict[str, set[str]]]

    def family_of(self, name: str) -> str | None:
        """The family a PromQL name reads (``x_bucket`` of a histogram → ``x``, a
        counter's ``x_total`` → ``x``); None when not exported."""
        return self.family_of_sample.get(name)


def parse_exposition(text: str) -> Exported:
    from prometheus_client.parser import text_string_to_metric_families

    families, family_of, labels = {}, {}, {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam.type
        for sample in fam.samples:
            family_of[sample.name] = fam.name
            seen = labels.setdefault(sample.name, {})
            for k, v in sample.labels.items():
                seen.setdefault(k, set()).add(v)
    return Exported(families, family_of, labels)


def _literal(value: str) -> bool:
    return "$" not in value and "[[" not in value


def problems(where: str, expr: str, exported: Exported) -> list[str]:
    """What ``expr`` reads that the scrape lacks: metric names, label names in matchers
    and groupings, literal values of = and =~ matchers."""
    uses, out = promql_uses(expr), []
    if not uses.selectors:
        out.append(f"{where}: no metric in {expr!r}")
    known: set[str] = set(TARGET_LABELS)
    for sel in uses.selectors:
        if exported.family_of(sel.name) is None:
            out.append(f"{where}: metric {sel.name} is not exported")
            continue
        have = exported.labels[sel.name]
        known |= set(have)
        for label, (op, value) in sel.matchers.items():
            if label not in have and label not in TARGET_LABELS:
                out.append(f"{where}: {sel.name} has no label {label!r} (it has "
                           f"{sorted(have)})")
            elif label in have and _literal(value) and op in ("=", "=~") and not any(
                    re.fullmatch(value if op == "=~" else re.escape(value), v)
                    for v in have[label]):
                out.append(f"{where}: no {sel.name} series has {label}{op}{value!r} "
                           f"(values: {sorted(have[label])})")
    for label in sorted(uses.grouping - known):
        out.append(f"{where}: no metric of {expr!r} has the label {label!r}")
    return out
