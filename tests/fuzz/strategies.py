"""Hypothesis strategies for vendor payloads: arbitrary bytes, arbitrary JSON, and real fixtures mutated.

A mutated fixture keeps most of the vendor's structure, so it gets past the first `need(...)` and
reaches the deeper parsing (timestamps, nested lists, status maps) where surprises live.
"""

from __future__ import annotations

import copy
import json

from hypothesis import strategies as st

# Values a vendor could plausibly send where something else was expected.
ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "null",
        "0",
        "-1",
        "1e309",
        "NaN",
        "2026-13-45T99:99:99Z",
        "2026-01-05T10:00:00",
        "2026-01-05",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00Z",
        "<script>alert(1)</script>",
        "\u0000",
        "\ud7ff\ue000\U0001f4e6",
        "x" * 5000,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    ODD_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)


def _paths(node, prefix=()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _apply(document, path: tuple, operation: str, value):
    if not path:
        return {"replace": value, "wrap": [document]}.get(operation, document)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if operation == "delete":
        del parent[last]
    elif operation == "replace":
        parent[last] = value
    elif operation == "wrap":
        parent[last] = [parent[last]]
    return document


@st.composite
def mutated(draw, document) -> bytes:
    """The document with one to three of its values replaced, deleted or wrapped in a list."""
    result = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(result)
        path = draw(st.sampled_from(paths))
        operation = draw(st.sampled_from(["replace", "replace", "delete", "wrap"]))
        result = _apply(result, path, operation, draw(JSON_VALUES) if operation == "replace" else None)
    return json.dumps(result).encode()


def payloads(document) -> st.SearchStrategy[bytes]:
    """Mostly the real fixture mutated, sometimes any JSON, sometimes bytes that are not JSON at all."""
    return st.one_of(
        mutated(document),
        mutated(document),
        mutated(document),
        JSON_VALUES.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=200),
    )
