"""Per-protocol detectors: each ``handle(engine, ts, ip)`` follows spec A5-A7."""
