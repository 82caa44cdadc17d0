"""Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-id`,
`webhook-timestamp` and `webhook-signature` headers made by the `standardwebhooks` package,
so receivers verify with any Standard Webhooks or Svix library. While a rotated secret's
overlap lasts, both secrets sign (the header carries one `v1,…` per secret)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(message_id: str, body: str, signing_secrets: Sequence[str], at: datetime | None = None) -> dict[str, str]:
    at = (at or datetime.now(UTC)).astimezone(UTC)
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in signing_secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": "TenantCore-Webhooks/1",
    }
