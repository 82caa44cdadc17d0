"""The rules that judge a domain's `Observations`, one module per protocol.

Each module exposes one pure function (`judge_<protocol>`) returning the status fields it
decides and its findings, made from `catalogue` kinds; `evaluate` runs them all. When
Microsoft's own values are known (`ExpectedRecords`) they are compared exactly. Without them
(a bare `tenantcore check` on any domain) Microsoft's hosts are recognised by the patterns it
is known to issue, old and new formats alike (`../shared/reference/dns-health.md` §3).
"""

from tenantcore.dnshealth.rules.autodiscover import judge_autodiscover
from tenantcore.dnshealth.rules.blocklists import judge_blocklists
from tenantcore.dnshealth.rules.dkim import judge_dkim
from tenantcore.dnshealth.rules.dmarc import judge_dmarc
from tenantcore.dnshealth.rules.mx import judge_mx
from tenantcore.dnshealth.rules.spf import judge_spf
from tenantcore.dnshealth.rules.verification import judge_verification

__all__ = [
    "judge_autodiscover",
    "judge_blocklists",
    "judge_dkim",
    "judge_dmarc",
    "judge_mx",
    "judge_spf",
    "judge_verification",
]
