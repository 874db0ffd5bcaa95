"""trio_hedge: a delta-neutral hedge bot for crypto perpetual futures on Trio.

Layers (folders; imports point one way: app -> engine -> venues -> protocols -> domain, app -> sim -> protocols
-> domain): ``domain`` (types, order state machine, L2 book, the venue error tree), ``protocols`` (each venue's
wire protocol, sans-IO, both directions), ``venues`` (venue interface, adapters), ``engine`` (hedger, verifier,
risk guard, flatten), ``sim`` (replay, matching, simulated exchange, in-process venue, wire simulators),
``app`` (config, CLI, logging, reports). The root's ``_redact.py`` and ``_streams.py`` are shared plumbing
above the domain. See docs/architecture.md.
"""

__version__ = "0.1.0"
