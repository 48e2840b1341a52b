"""Every message kind has golden samples in both forms (run after the golden tests)."""

from __future__ import annotations

import re
import socket

import pytest
from conftest import RENDERED
from hypothesis import given
from hypothesis import strategies as st

from pyiplog.detect.context import Names, SynFloodGuard
from pyiplog.messages import MESSAGES, port_list
from pyiplog.options import Options
from pyiplog.resolve import Namer, address_text


def test_every_message_kind_has_a_golden_sample(request):
    if not getattr(request.config, "golden_collected", False):
        pytest.skip("needs the golden test modules in the same run")
    missing = []
    for kind, (plain, dest) in MESSAGES.items():
        forms = [False] if plain == dest else [False, True]
        missing += [
            f"{kind} ({'log_dest' if form else 'plain'})"
            for form in forms
            if (kind, form) not in RENDERED
        ]
    assert missing == [], "message kinds without a golden sample: " + ", ".join(missing)


def test_port_lists():
    assert port_list([], False) == ""
    assert port_list([80], False) == " [port 80]"
    assert port_list([80, 81], False) == " [ports 80,81]"
    assert port_list(list(range(10)), True) == " [ports 0,1,2,3,4,5,6,7,8,9,...]"


def template_regex(template: str) -> re.Pattern:
    """A regex matching every line a template can produce."""
    parts = re.split(r"\{\w+\}", template)
    return re.compile(".+?".join(re.escape(p) for p in parts) + r"\Z")


def test_template_regex_matches_its_own_lines():
    regex = template_regex(MESSAGES["tcp_attempt"][0])
    assert regex.match("TCP: ssh connection attempt from 192.0.2.1:4000")
    assert not regex.match("TCP: ssh connection attempt to 192.0.2.1 from 192.0.2.2")


@given(st.binary(min_size=4, max_size=4))
def test_dotted_quads_as_inet_ntoa_writes_them(addr):
    """The dotted quad is built from a table (a flood writes a new address a
    packet); it must read as libc's, with -N (Names' own copy) and without."""
    plain = Names(Options(disable_resolver=True), Namer(), SynFloodGuard())
    assert address_text(addr) == plain.host(addr, "tcp") == socket.inet_ntoa(addr)
