"""Where iplog lines go: a log file or stdout (with repeat folding), or syslog."""

from .logfile import LogFile, TextLog, stamp
from .syslog import SyslogLog

__all__ = ["LogFile", "SyslogLog", "TextLog", "stamp"]
