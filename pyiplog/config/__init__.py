"""iplog.conf: the Lark grammar, the parser and the filter rules."""

from .parser import Config, nameserver_rules, parse_config, read_config
from .rules import AddrSpec, FilterRule, Filters, PortSpec, TypeSpec

__all__ = ["AddrSpec", "Config", "FilterRule", "Filters", "PortSpec", "TypeSpec",
           "nameserver_rules", "parse_config", "read_config"]
