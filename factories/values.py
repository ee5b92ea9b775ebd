"""Realistic values for the factories, as ``entities.md`` describes them.

Plain functions over a ``random.Random`` (factory_boy's generator, reseeded with Faker's by
``pytest_ampdb.factories.reseed``), so every value is reproducible from the test's seed and
testable alone.
"""

from __future__ import annotations

import base64
import random
import re
import string
import uuid
from datetime import UTC, datetime
from typing import Any

from pytest_ampdb.models import OperationStatus, OperationType

PROVIDERS: tuple[str, ...] = (
    "salesforce",
    "hubspot",
    "pipedrive",
    "zendeskSupport",
    "intercom",
    "gong",
    "outreach",
    "salesloft",
    "marketo",
    "dynamicsCRM",
    "netsuite",
    "notion",
    "linear",
    "attio",
    "close",
    "stripe",
    "zoom",
    "slack",
)
"""The providers ``entities.md`` lists."""

OBJECT_NAMES: tuple[str, ...] = (
    "contact",
    "account",
    "lead",
    "opportunity",
    "company",
    "deal",
    "ticket",
    "user",
    "note",
    "task",
)
"""Object names a read or write is configured for."""

WEBHOOK_EVENTS: tuple[str, ...] = (
    "lead-converted",
    "contact-created",
    "deal-won",
    "account-updated",
    "ticket-closed",
)

PROVIDER_SCOPES: dict[str, tuple[str, ...]] = {
    "salesforce": ("api", "refresh_token", "offline_access"),
    "hubspot": ("oauth", "crm.objects.contacts.read", "crm.objects.contacts.write"),
    "pipedrive": ("base", "contacts:full", "deals:full"),
    "zendeskSupport": ("read", "write"),
    "linear": ("read", "write"),
    "slack": ("channels:read", "chat:write"),
}
DEFAULT_SCOPES: tuple[str, ...] = ("read", "write")

SCHEDULES: tuple[str, ...] = ("*/10 * * * *", "*/15 * * * *", "*/30 * * * *", "0 * * * *")

_ALPHANUMERIC = string.ascii_letters + string.digits
_OPERATION_EPOCH_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)

# DER prefix and suffix of an RSA-2048 SubjectPublicKeyInfo: the modulus goes in between.
_SPKI_PREFIX = bytes.fromhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100")
_SPKI_EXPONENT = bytes.fromhex("0203010001")


def slugify(text: str) -> str:
    """``Acme Corp, Inc.`` -> ``acme-corp-inc``: a ``group_ref``/project-name style slug."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "acme"


def secret(rng: random.Random, length: int) -> str:
    """A random alphanumeric string, the shape of an API key or OAuth client secret."""
    return "".join(rng.choices(_ALPHANUMERIC, k=length))


def page_token(rng: random.Random) -> str:
    """An opaque base64 page token such as ``Q9JT+2qfys28V4ODN+UayA==``."""
    return base64.b64encode(rng.randbytes(16)).decode("ascii")


def public_key_pem(rng: random.Random) -> str:
    """A PEM block with the exact structure of an RSA-2048 public key (random modulus)."""
    modulus = bytes([rng.randrange(0x80, 0x100)]) + rng.randbytes(255)
    body = base64.b64encode(_SPKI_PREFIX + modulus + _SPKI_EXPONENT).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----"]) + "\n"


def uuid7(rng: random.Random, sequence: int) -> str:
    """A UUIDv7 whose time is a fixed epoch plus ``sequence`` ms: ordered and reproducible."""
    millis = _OPERATION_EPOCH_MS + sequence
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rng.getrandbits(12) << 64
    value |= 0b10 << 62
    value |= rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def created_by(rng: random.Random, consumer_ref: str) -> str:
    """``consumer:<ref>`` (the end user installed it) or ``builder:<uuid>`` (the builder did)."""
    if rng.random() < 0.7:
        return f"consumer:{consumer_ref}"
    return f"builder:{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def installation_config(provider: str, object_name: str, schedule: str) -> dict[str, Any]:
    """An installation's config, shaped like the example in ``entities.md``."""
    return {
        "provider": provider,
        "read": {
            "objects": {
                object_name: {
                    "objectName": object_name,
                    "schedule": schedule,
                    "destination": "defaultWebhook",
                }
            }
        },
    }


def revision_content(provider: str, object_name: str, schedule: str) -> dict[str, Any]:
    """A revision's content, shaped like the example in ``entities.md``."""
    return {
        "name": f"read-{object_name}s",
        "provider": provider,
        "read": {
            "objects": [
                {"objectName": object_name, "destination": "defaultWebhook", "schedule": schedule}
            ]
        },
    }


def operation_result(
    rng: random.Random, type_: OperationType, status: OperationStatus, object_name: str
) -> str | None:
    """What a finished operation reports; ``None`` while it is pending or running."""
    if status is OperationStatus.COMPLETED:
        if type_ is OperationType.WRITE:
            return f"Batch write completed ({rng.randint(1, 50)} succeeded, 0 failed)"
        if type_ is OperationType.PROXY:
            return "Proxy request completed (200 OK)"
        return f"[{object_name}] No new data found"
    if status is OperationStatus.FAILED:
        return f"[{object_name}] provider returned 401 Unauthorized: token expired"
    return None
