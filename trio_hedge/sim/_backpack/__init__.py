"""The Backpack wire simulator's parts; :mod:`trio_hedge.sim._backpack_server` serves them (formats: its module
docstring)."""
