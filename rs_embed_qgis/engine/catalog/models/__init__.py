"""One file per model, each defining ``ENTRY = ModelEntry(...)``; found by ``catalog``.

Entry files hold facts only: they import ``..entry``, ``...specs``, ``...weights`` and
other entry files, never torch or model code.
"""
