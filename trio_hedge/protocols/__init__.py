"""Protocols layer: each venue's wire protocol, sans-IO and in both directions (parse AND format), one package per
venue (``grvt/``, ``backpack/``), one module per message family. Pure and synchronous: no sockets, no Trio.

Used by the venue adapters (client side, :mod:`trio_hedge.venues`) and by the wire simulators (server side,
:mod:`trio_hedge.sim`); imports only the domain.
"""
