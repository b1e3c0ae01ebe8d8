"""Reading captured queries when the hot statements run prepared (oms_notify/fastsql.py)."""

from __future__ import annotations

from oms_notify.fastsql import statement_of


def executed(captured) -> list[str]:
    """The statements a CaptureQueriesContext saw run, each EXECUTE read back as the statement it
    ran; the PREPARE that a connection's first use of a statement costs once is left out."""
    return [statement_of(q["sql"]) for q in captured.captured_queries if not q["sql"].startswith("PREPARE ")]
