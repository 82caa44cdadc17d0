"""Every finding a check can report: code, severity, area, and the message and fix templates.

Codes, severities and texts are part of the API (the service stores and returns them, users
match on codes), so they are written once, here, and the rules only choose a kind and supply
the values its templates name: `SPF_MULTIPLE(count=2)`.

Templates are `str.format` strings, filled only when a finding is made. A kind whose texts
have no fields hands out one prebuilt `Finding` (it is frozen), so the usual healthy findings
cost no allocation: `evaluate` runs for every domain of a check run.

A code comes in several kinds where the situation changes the severity or the advice
(`verification_txt_missing` is an error before verification and only info after it);
`CATALOGUE` lists each code with all its kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter
from typing import Final

from tenantcore.dnshealth.findings import Finding, Severity
from tenantcore.dnshealth.lookup import Answer
from tenantcore.dnshealth.spf import MAX_LOOKUPS, MAX_MX_NAMES, MAX_VOID_LOOKUPS


def _has_fields(template: str) -> bool:
    return any(field is not None for _, field, _, _ in Formatter().parse(template))


class FindingKind:
    """One kind of finding. Calling it with the values its templates name makes the finding."""

    __slots__ = ("_fix_template", "_message_template", "_prebuilt", "area", "code", "fix", "message", "severity")

    def __init__(self, code: str, severity: Severity, area: str, message: str, fix: str | None = None) -> None:
        self.code = code
        self.severity = severity
        self.area = area  # spf, dkim, dmarc, mx, verification, apex, autodiscover
        self.message = message
        self.fix = fix
        # Decided once: which texts need formatting, and the finding itself when neither does.
        self._message_template = message if _has_fields(message) else None
        self._fix_template = fix if fix is not None and _has_fields(fix) else None
        self._prebuilt = (
            Finding(code, severity, area, message, fix)
            if self._message_template is None and self._fix_template is None
            else None
        )

    def __call__(self, **values: object) -> Finding:
        if self._prebuilt is not None:
            return self._prebuilt
        message = self.message if self._message_template is None else self._message_template.format_map(values)
        fix = self.fix if self._fix_template is None else self._fix_template.format_map(values)
        return Finding(self.code, self.severity, self.area, message, fix)

    def with_severity(self, severity: Severity) -> FindingKind:
        """The same code and texts at another severity."""
        return FindingKind(self.code, severity, self.area, self.message, self.fix)

    def __repr__(self) -> str:
        return f"FindingKind({self.code!r}, {self.severity.value})"


# --- unknown answers: one kind per area ---------------------------------------------------

_UNKNOWN_FIX = (
    "Nothing to fix yet: the next check retries. If it persists, check the domain's "
    "nameservers answer (lame delegation, expired domain, firewall)."
)


def _unknown_kind(area: str, what: str) -> FindingKind:
    return FindingKind(
        f"{area}_unknown",
        Severity.UNKNOWN,
        area,
        f"Could not read {what} ({{answer}}); it is not reported as missing.",
        _UNKNOWN_FIX,
    )


SPF_UNKNOWN = _unknown_kind("spf", "the SPF record")
DMARC_UNKNOWN = _unknown_kind("dmarc", "the DMARC record")
MX_UNKNOWN = _unknown_kind("mx", "the MX record")
DKIM_UNKNOWN = _unknown_kind("dkim", "the {selector} CNAME")
AUTODISCOVER_UNKNOWN = _unknown_kind("autodiscover", "the autodiscover CNAME")


def unknown(kind: FindingKind, answer: Answer, **values: object) -> Finding:
    """An `*_UNKNOWN` finding for an answer DNS did not give, saying what was asked and what
    happened: an unanswered query is never reported as a missing record."""
    detail = f", {answer.detail}" if answer.detail else ""
    return kind(answer=f"{answer.name} {answer.rtype}: {answer.outcome.value}{detail}", **values)


# --- SPF ------------------------------------------------------------------------------------

_END_WITH_FAIL = "End the record with -all (or ~all)."

SPF_MISSING = FindingKind(
    "spf_missing", Severity.ERROR, "spf", "No SPF record.", "At {where}, publish one TXT record: {record}"
)
SPF_MULTIPLE = FindingKind(
    "spf_multiple",
    Severity.ERROR,
    "spf",
    "{count} SPF records: receivers treat this as a permanent error and SPF fails.",
    "Merge them into one v=spf1 record (combine the include: terms) and delete the rest.",
)
# Each syntax finding names the term as published, why a receiver rejects it and the fix
# (`spf.SpfProblem`): receivers stop at the first such term and return permerror.
_PERMERROR = "receivers stop there and return permerror, which DMARC counts as an SPF failure for all mail"
SPF_SYNTAX = FindingKind(
    "spf_syntax",
    Severity.ERROR,
    "spf",
    f"SPF term {{term!r}} is invalid: {{problem}}; {_PERMERROR}.",
    "{fix}",
)
SPF_INCLUDE_SYNTAX = FindingKind(
    "spf_include_syntax",
    Severity.ERROR,
    "spf",
    f"The SPF record of {{name}} (reached by {{via}}) has an invalid term {{term!r}}: {{problem}}; {_PERMERROR} "
    "from this domain too.",
    "Ask whoever runs {name} to correct it ({fix}), or remove {via} until they do.",
)
SPF_MX_TOO_MANY_NAMES = FindingKind(
    "spf_mx_too_many_names",
    Severity.ERROR,
    "spf",
    f"SPF term {{term!r}} asks the MX of {{name}}, which names {{count}} hosts; past {MAX_MX_NAMES}, {_PERMERROR}.",
    "Replace the mx term with ip4:/ip6: terms (or a: terms) for the hosts that actually send.",
)
SPF_PASS_ALL = FindingKind(
    "spf_pass_all", Severity.ERROR, "spf", "SPF ends in +all: anyone may send as this domain.", _END_WITH_FAIL
)
SPF_NEUTRAL_ALL = FindingKind(
    "spf_neutral_all",
    Severity.WARNING,
    "spf",
    "SPF ends in ?all, which asserts nothing about other senders.",
    _END_WITH_FAIL,
)
SPF_NO_ALL = FindingKind(
    "spf_no_all", Severity.WARNING, "spf", "SPF has no 'all' term, so it defaults to neutral.", _END_WITH_FAIL
)
SPF_SOFTFAIL_ALL = FindingKind(
    "spf_softfail_all",
    Severity.INFO,
    "spf",
    "SPF ends in ~all (soft fail).",
    "Fine while warming up; -all is stricter once all senders are listed.",
)
# An error when Microsoft's own values say the include belongs there; a warning when only the
# MX suggests the domain sends through Microsoft 365.
SPF_MISSING_MICROSOFT_INCLUDE = FindingKind(
    "spf_missing_microsoft_include",
    Severity.ERROR,
    "spf",
    "SPF does not include {missing}: mail sent through Microsoft 365 fails SPF.",
    "Add include:{include} before the all term.",
)
SPF_MISSING_MICROSOFT_INCLUDE_BY_MX = SPF_MISSING_MICROSOFT_INCLUDE.with_severity(Severity.WARNING)
SPF_PTR = FindingKind(
    "spf_ptr",
    Severity.WARNING,
    "spf",
    "SPF uses the ptr mechanism, which RFC 7208 says not to use.",
    "Replace ptr with ip4:/ip6: or include: terms.",
)
SPF_TOO_LONG = FindingKind(
    "spf_too_long",
    Severity.WARNING,
    "spf",
    "SPF is {length} characters; answers this large risk truncation.",
    "Remove unused includes or flatten them.",
)
SPF_TOO_MANY_LOOKUPS = FindingKind(
    "spf_too_many_lookups",
    Severity.ERROR,
    "spf",
    f"SPF needs {{lookups}} DNS lookups (includes followed); the limit is {MAX_LOOKUPS}, "
    "beyond which receivers return permerror.",
    "Remove includes for services that no longer send, or flatten some into ip4:/ip6:.",
)
SPF_TOO_MANY_VOID_LOOKUPS = FindingKind(
    "spf_too_many_void_lookups",
    Severity.ERROR,
    "spf",
    f"SPF makes {{void_lookups}} DNS lookups that find nothing{{names}}; the limit is {MAX_VOID_LOOKUPS}, "
    "beyond which receivers return permerror.",
    "Remove the include:, a:, mx: and exists: terms naming what does not exist (or publishes no SPF).",
)
SPF_INCLUDE_BROKEN = FindingKind(
    "spf_include_broken",
    Severity.ERROR,
    "spf",
    "Included name(s) without exactly one SPF record: {names}.",
    "Remove or correct those include: terms.",
)
SPF_INCLUDE_LOOP = FindingKind(
    "spf_include_loop", Severity.ERROR, "spf", "SPF includes loop back on themselves.", "Remove the circular include."
)
SPF_INCLUDE_UNKNOWN = FindingKind(
    "spf_include_unknown",
    Severity.UNKNOWN,
    "spf",
    "Could not read included SPF record(s): {names}; the lookup count is incomplete.",
)
SPF_OK = FindingKind("spf_ok", Severity.OK, "spf", "One valid SPF record covering Microsoft 365.")

# --- DMARC ----------------------------------------------------------------------------------

# A TXT at _dmarc that was meant as DMARC but does not start with v=DMARC1.
DMARC_NOT_DMARC1 = FindingKind(
    "dmarc_syntax",
    Severity.ERROR,
    "dmarc",
    "The record at {name} does not start with v=DMARC1: {record!r}.",
    "Rewrite it starting with v=DMARC1; e.g. v=DMARC1; p=quarantine; rua=mailto:...",
)
DMARC_WRONG_NAME = FindingKind(
    "dmarc_wrong_name",
    Severity.ERROR,
    "dmarc",
    "A DMARC record is published at {found} instead of {name}.",
    "Publish it at host {host} (many DNS hosts append the zone to the host you type: enter the host "
    "without the zone) and delete the misplaced one.",
)
DMARC_MISSING = FindingKind(
    "dmarc_missing",
    Severity.ERROR,
    "dmarc",
    "No DMARC record: Outlook.com, Gmail and Yahoo reject bulk mail from domains without one.",
    "At {where}, publish a TXT record: {record}",
)
DMARC_MULTIPLE = FindingKind(
    "dmarc_multiple",
    Severity.ERROR,
    "dmarc",
    "{count} DMARC records at {name}: receivers then ignore DMARC entirely.",
    "Keep one record and delete the others.",
)
DMARC_SYNTAX = FindingKind(
    "dmarc_syntax",
    Severity.ERROR,
    "dmarc",
    "DMARC syntax error: {error}.",
    "Correct the record, e.g. v=DMARC1; p=quarantine; rua=mailto:...",
)
DMARC_POLICY_NONE = FindingKind(
    "dmarc_policy_none",
    Severity.WARNING,
    "dmarc",
    "DMARC policy is p=none: it reports but protects nothing.",
    "Move to p=quarantine (then p=reject) once reports show your mail passes.",
)
# Reports are optional (RFC 7489 §6.3): a policy protects without them, so this is said (with
# how to get them) without moving the grade: the record TenantCore recommends when no report
# address is configured is healthy, and reads ok.
DMARC_NO_RUA = FindingKind(
    "dmarc_no_rua",
    Severity.OK,
    "dmarc",
    "DMARC has no rua= address, so no aggregate reports are sent: you will not see who sends as this domain.",
    "Optional: add rua=mailto:<a mailbox you read, or a DMARC report service>. TENANTCORE_DMARC_RUA puts it in "
    "the records TenantCore recommends.",
)
DMARC_REMOVED_TAGS = FindingKind(
    "dmarc_removed_tags",
    Severity.INFO,
    "dmarc",
    "DMARC uses tags removed by RFC 9989: {tags}.",
    "They are ignored by newer receivers; drop them.",
)
# A record without a usable p=. RFC 7489 §6.6.3: receivers act as if p=none when rua= holds a
# valid address, and otherwise discard the record (no DMARC at all); RFC 9989 §4.7 always reads
# a record without p= as p=none. Either way nothing is enforced; without rua= it is worse.
DMARC_NO_POLICY = FindingKind(
    "dmarc_no_policy",
    Severity.ERROR,
    "dmarc",
    "DMARC at {name} has {what}: receivers that follow RFC 7489 discard a record without a valid p= "
    "unless rua= holds a valid address (it does not here), so to them the domain has no DMARC; "
    "RFC 9989 receivers read it as p=none, which protects nothing.",
    "Put a policy right after v=DMARC1, e.g. v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}",
)
DMARC_NO_POLICY_AS_NONE = FindingKind(
    "dmarc_no_policy",
    Severity.WARNING,
    "dmarc",
    "DMARC at {name} has {what}: receivers read the record as p=none (RFC 7489 §6.6.3, because rua= "
    "is valid; RFC 9989 always), so it reports but protects nothing.",
    DMARC_NO_POLICY.fix,
)
# t=y (RFC 9989 §4.7): RFC 9989 receivers do not apply the policy; RFC 7489 ones ignore t.
DMARC_TEST_MODE = FindingKind(
    "dmarc_test_mode",
    Severity.WARNING,
    "dmarc",
    "DMARC has t=y (test mode): receivers that follow RFC 9989 do not apply p={policy} to mail that fails, "
    "so it protects about as much as p=none there.",
    "Remove t=y once reports show your mail passes.",
)
# A value outside its tag's grammar: RFC 9989 §4.7 has receivers discard it for the default.
DMARC_TAG_INVALID = FindingKind(
    "dmarc_tag_invalid",
    Severity.WARNING,
    "dmarc",
    "DMARC tag {tag}={value} is not valid (it must be {allowed}): receivers ignore it and apply {default}.",
    "Set {tag}= to {allowed}, or remove it to get {default}.",
)
DMARC_REPORT_URI_INVALID = FindingKind(
    "dmarc_report_uri_invalid",
    Severity.WARNING,
    "dmarc",
    "DMARC {tag}= entry {uri!r} {problem}: no {reports} reports are sent to it.",
    "Write each address as mailto:address@domain, several separated by commas, e.g. {tag}=mailto:dmarc@{domain}",
)
# RFC 7489 §7.1: reports for example.com go to another organization's domain only when that
# domain publishes "v=DMARC1" at example.com._report._dmarc.<its domain>; receivers check it.
DMARC_REPORT_UNAUTHORIZED = FindingKind(
    "dmarc_report_unauthorized",
    Severity.WARNING,
    "dmarc",
    "DMARC {tag}= sends reports to {host}, another organization's domain, which has not agreed to "
    "receive them: receivers look for TXT {name} (RFC 7489 §7.1), find no v=DMARC1 there, and send nothing.",
    'Ask whoever runs {host} (your DMARC report service) to publish TXT {name} "v=DMARC1", '
    "or send reports to an address at your own domain.",
)
DMARC_REPORT_AUTH_UNKNOWN = FindingKind(
    "dmarc_report_auth_unknown",
    Severity.INFO,
    "dmarc",
    "Could not verify that {host} accepts this domain's {tag} reports: {reason}.",
    "Nothing to do now; the next check retries.",
)
DMARC_UNKNOWN_TAG = FindingKind(
    "dmarc_unknown_tag",
    Severity.INFO,
    "dmarc",
    "DMARC has tags neither RFC 7489 nor RFC 9989 defines ({tags}): receivers ignore them.",
    "Check their spelling (rua, ruf, adkim, aspf, sp...); otherwise remove them.",
)
DMARC_TAG_ORDER = FindingKind(
    "dmarc_tag_order",
    Severity.INFO,
    "dmarc",
    "DMARC p= is not the tag right after v=DMARC1 ({order}): RFC 9989 allows any order, but RFC 7489's "
    "grammar puts p= second and strict older parsers may reject the record.",
    "Move p= right after v=DMARC1.",
)
# A subdomain without a record of its own: receivers apply the organizational domain's record
# (RFC 7489 §6.6.3, RFC 9989 §4.10): sp=, else p=; np= when the subdomain does not exist.
DMARC_INHERITED = FindingKind(
    "dmarc_inherited",
    Severity.INFO,
    "dmarc",
    "No DMARC record at {name}; receivers apply the one at {org_name} to this subdomain: {tag}={policy} "
    "({why}). Mail from it is protected.",
    "Nothing to do. To give this subdomain its own policy or reports, publish a TXT record at {where}.",
)
DMARC_INHERITED_NONE = FindingKind(
    "dmarc_inherited",
    Severity.WARNING,
    "dmarc",
    "No DMARC record at {name}; receivers apply the one at {org_name} to this subdomain: {tag}={policy} "
    "({why}), which protects nothing.",
    "At {where}, publish a TXT record: {record} (or set sp=quarantine in the record at {org_name}).",
)
DMARC_OK = FindingKind("dmarc_ok", Severity.OK, "dmarc", "One valid DMARC record with enforcement.")

# --- MX -------------------------------------------------------------------------------------

# Every MX fix publishes {mx}: the MX Microsoft issued, or, when it is not known, this.
ANY_MICROSOFT_MX: Final = "the MX record Microsoft 365 lists for this domain"
_PUBLISH_MX = "At {where}, publish {mx}."

MX_MISSING = FindingKind(
    "mx_missing", Severity.ERROR, "mx", "No MX record: replies and bounces to this domain are lost.", _PUBLISH_MX
)
MX_NULL = FindingKind(
    "mx_null", Severity.ERROR, "mx", "Null MX (RFC 7505): the domain says it receives no mail.", _PUBLISH_MX
)
MX_NOT_EXPECTED = FindingKind(
    "mx_not_expected",
    Severity.WARNING,
    "mx",
    "MX points at Microsoft ({found}) but not at the host Microsoft issued for this domain ({issued}).",
    _PUBLISH_MX,
)
MX_NOT_MICROSOFT = FindingKind(
    "mx_not_microsoft", Severity.ERROR, "mx", "MX points at {hosts}, not at Microsoft 365.", _PUBLISH_MX
)
MX_EXTRA_HOSTS = FindingKind(
    "mx_extra_hosts",
    Severity.WARNING,
    "mx",
    "Extra MX hosts besides Microsoft's: {hosts}.",
    "Remove MX records that do not point at Microsoft 365.",
)
MX_OK = FindingKind("mx_ok", Severity.OK, "mx", "MX points at Microsoft 365 ({host}).")

# --- DKIM -----------------------------------------------------------------------------------

# Every DKIM fix publishes the selector's CNAME to {key}: the key Exchange issued, or, when it
# is not known, where to find it (`any_dkim_key`).
_PUBLISH_DKIM = "At {where}, publish a CNAME to {key}, with any proxy off (Cloudflare: DNS only)."
DKIM_SELECTOR_MISMATCH = FindingKind(
    "dkim_selector_mismatch",
    Severity.ERROR,
    "dkim",
    "{name} points at {found}, not at Microsoft's DKIM key{issued}.",
    _PUBLISH_DKIM,
)
DKIM_SELECTOR_NOT_CNAME = FindingKind(
    "dkim_selector_not_cname",
    Severity.ERROR,
    "dkim",
    "{name} is a TXT record, not the CNAME Microsoft 365 needs.",
    "Delete the TXT. " + _PUBLISH_DKIM,
)
DKIM_SELECTOR_MISSING = FindingKind(
    "dkim_selector_missing", Severity.ERROR, "dkim", "No CNAME at {name}.", _PUBLISH_DKIM
)
DKIM_SELECTOR_NOT_ISSUED = FindingKind(
    "dkim_selector_not_issued",
    Severity.INFO,
    "dkim",
    "No CNAME at {name} yet: Microsoft issues the domain's DKIM keys once it is verified.",
    "Nothing to do yet: after verification TenantCore lists the two DKIM CNAMEs to publish "
    "(or publishes them through your DNS provider).",
)
DKIM_OK = FindingKind("dkim_ok", Severity.OK, "dkim", "Both DKIM selector CNAMEs point at Microsoft 365.")


def any_dkim_key(selector: str) -> str:
    """Where to find a selector's DKIM CNAME target when Exchange's value is not known."""
    return (
        f"the {selector} target Microsoft 365 issues once the domain is verified (TenantCore shows it in the "
        "domain's records; the Defender portal shows it under Email authentication, DKIM)"
    )


# --- verification TXT and the apex ----------------------------------------------------------

APEX_CNAME = FindingKind(
    "apex_cname",
    Severity.ERROR,
    "apex",
    "The domain itself is a CNAME (to {alias}): it hides the MX, SPF and verification records a mail domain needs.",
    "Delete the apex CNAME; use a CNAME only on a subdomain such as track.",
)
VERIFICATION_OK = FindingKind(
    "verification_ok", Severity.OK, "verification", "Microsoft's verification TXT ({text}) is published."
)
VERIFICATION_TXT_MISSING = FindingKind(
    "verification_txt_missing",
    Severity.ERROR,
    "verification",
    "Microsoft's verification TXT ({text}) is not published: the domain cannot be verified.",
    "At {where}, publish a TXT record: {text}",
)
VERIFICATION_TXT_MISSING_ONCE_VERIFIED = FindingKind(
    "verification_txt_missing",
    Severity.INFO,
    "verification",
    "The verification TXT ({text}) is not published; the domain is already verified, so this only matters if it "
    "moves tenant.",
)

# --- autodiscover ---------------------------------------------------------------------------

_PUBLISH_AUTODISCOVER = "At {where}, publish a CNAME to {target}, with any proxy off (Cloudflare: DNS only)."

AUTODISCOVER_MISSING = FindingKind(
    "autodiscover_missing",
    Severity.WARNING,
    "autodiscover",
    "No autodiscover CNAME: Outlook clients cannot find the mailbox settings.",
    _PUBLISH_AUTODISCOVER,
)
AUTODISCOVER_MISMATCH = FindingKind(
    "autodiscover_mismatch",
    Severity.WARNING,
    "autodiscover",
    "autodiscover points at {found}, not {target}.",
    _PUBLISH_AUTODISCOVER,
)
AUTODISCOVER_OK = FindingKind("autodiscover_ok", Severity.OK, "autodiscover", "autodiscover CNAME is correct.")


# --- blocklists -----------------------------------------------------------------------------
# A listing is an error: receivers that use the list reject or junk mail naming the domain.
# A list that could not say (no answer, or it refused the question) is only info: it says
# nothing about the domain, usually everything about how we reach the list (a public
# resolver, a rate limit), and it would otherwise flip every domain's grade, and raise a
# degraded and a recovered event for each, whenever a list is slow or rate-limits us. The
# domain's `blocklist_status` still says `unknown`, never `clean`.

BLOCKLISTED = FindingKind(
    "blocklisted",
    Severity.ERROR,
    "blocklist",
    "{name} is listed on {blocklist}: {reasons} ({codes}). Receivers using this list reject or junk mail "
    "that names the domain.",
    "Find and stop the cause (a compromised site or mailbox, spam sent from or advertising the domain), "
    "then request removal at {removal}. Hold sending from this domain until it is delisted.",
)
BLOCKLIST_REFUSED = FindingKind(
    "blocklist_refused",
    Severity.INFO,
    "blocklist",
    "{blocklist} refused the query: {problem}. Whether the domain is listed is unknown.",
    "Query the list through a resolver of your own (TENANTCORE_DNS_NAMESERVERS), not a public one; for "
    "Spamhaus set TENANTCORE_SPAMHAUS_DQS_KEY (a free Data Query Service key).",
)
BLOCKLIST_UNKNOWN = FindingKind(
    "blocklist_unknown",
    Severity.INFO,
    "blocklist",
    "Could not read {blocklist} ({problem}); the listing is unknown, not clean.",
    "Nothing to fix yet: the next check retries. If it persists, check that the resolver reaches the list.",
)
BLOCKLIST_OK = FindingKind("blocklist_ok", Severity.OK, "blocklist", "Not listed on {blocklists}.")


def _catalogue() -> dict[str, tuple[FindingKind, ...]]:
    kinds: dict[str, list[FindingKind]] = {}
    for value in globals().values():
        if isinstance(value, FindingKind):
            kinds.setdefault(value.code, []).append(value)
    return {code: tuple(found) for code, found in kinds.items()}


# Every code, with the kinds (severities and texts) it comes in, in the order defined above.
CATALOGUE: Final[Mapping[str, tuple[FindingKind, ...]]] = _catalogue()
