"""Addresses crafted to slip past the domain lists: each must read as the host Chromium visits, or be refused."""

from __future__ import annotations

import pytest

from actions.browser import Navigate
from agent.safety import SafetyPolicy
from agent.safety.hosts import address_host
from agent.safety.policy import RiskClassifier
from environments.base import ObservationExtras


@pytest.mark.parametrize("address", [
    "https://ev\u2061il.com/",  # format characters Chromium drops
    "https://ev\u3164il.com/",  # a Hangul filler
    "https://ev\U0001d173il.com/",  # a musical format character
    "view-source:https://evil.com/",  # the page is still fetched from its host
    "VIEW-SOURCE:view-source:evil.com",
    "https://evil.com:0000443/",
])
def test_hidden_spellings_read_as_the_host(address: str) -> None:
    assert address_host(address) == "evil.com"


@pytest.mark.parametrize("address", [
    "https://evil.com:" + "1" * 5000,  # int() refuses more than 4300 digits
    "https://" + "1" * 5000,
    "https://ev\u200eil.com/",  # an invisible mark no list entry holds
])
def test_unreadable_hosts_are_none_never_an_error(address: str) -> None:
    assert address_host(address) is None


def test_with_a_deny_list_an_unreadable_address_is_refused_in_any_mode() -> None:
    deny = RiskClassifier(SafetyPolicy(mode="allow", deny_domains=["evil.com"]))
    assert deny.assess(Navigate(url="view-source:https://evil.com/"), None, ObservationExtras()).verdict == "deny"
    refused = deny.assess(Navigate(url="https://ev\u200eil.com/"), None, ObservationExtras())
    assert refused.verdict == "deny" and refused.refused_by == "the deny list"
    assert deny.assess(Navigate(url="https://good.org/"), None, ObservationExtras()).verdict == "allow"
    # Without a deny list the mode decides, as for any unreadable address.
    assert RiskClassifier(SafetyPolicy(mode="allow")).assess(Navigate(url="about:blank"), None, ObservationExtras()).verdict == "allow"
