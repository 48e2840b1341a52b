"""pyiplog: a drop-in Python reimplementation of iplog 2.2.3."""

__version__ = "0.1.0"
