"""iplog.conf: the Lark grammar (``iplog.lark``) and its reading (``parser``),
the filter rules (``rules``) and the words both it and the command line use
(``words``).  Import from the modules: this package imports nothing itself.
"""
