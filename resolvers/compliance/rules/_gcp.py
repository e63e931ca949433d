"""Reading GCP configurations as stored: ``{"resource": {"data": ...}, "iamPolicy": ...}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get, mappings

DEFAULT_SA_SUFFIX = "-compute@developer.gserviceaccount.com"
FULL_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def data(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource's own data (the API representation), {} when the asset has none."""
    value = get(config, "resource", "data")
    return value if isinstance(value, dict) else {}


def iam_policy(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The asset's IAM policy, None when the asset carries none."""
    value = config.get("iamPolicy")
    return value if isinstance(value, dict) else None


def metadata_value(instance: Mapping[str, Any], key: str) -> str | None:
    """An instance metadata value (``metadata.items[].key``), lower-cased, or None."""
    for item in mappings(get(instance, "metadata", "items")):
        if item.get("key") == key:
            return str(item.get("value")).strip().lower()
    return None


def is_true(text: str | None) -> bool:
    """GCP metadata truthiness ("true", "1", "yes", "y", "on")."""
    return text in ("true", "1", "yes", "y", "on")


def is_default_sa(email: Any) -> bool:
    """The Compute Engine default service account ("default" in some exports)."""
    return isinstance(email, str) and (email == "default" or email.endswith(DEFAULT_SA_SUFFIX))
