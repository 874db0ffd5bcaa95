"""The GRVT wire simulator's parts; :mod:`trio_hedge.sim._grvt_server` serves them (formats: its module
docstring)."""
