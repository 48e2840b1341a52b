"""Where iplog lines go: a log file or stdout (with repeat folding), or syslog."""

from .logfile import TextLog, stamp
from .syslog import SyslogLog

__all__ = ["SyslogLog", "TextLog", "stamp"]
