"""trio_hedge: a delta-neutral hedge bot for crypto perpetual futures on Trio.

Layers (folders): ``domain`` (types, order state machine, L2 book), ``venues`` (venue interface, adapters),
``engine`` (hedger, verifier, risk guard, flatten), ``sim`` (replay, matching, simulated exchange),
``app`` (config, CLI, logging, reports). See docs/architecture.md.
"""

__version__ = "0.1.0"
