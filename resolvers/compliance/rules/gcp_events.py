"""GCP event rules, judged from Cloud Audit Log entries (request, serviceData)."""

from __future__ import annotations

from typing import Any

from resolvers.compliance.rules._docs import get, items, mappings
from resolvers.compliance.rules._policy import (
    ADMIN_PORTS,
    PUBLIC_MEMBERS,
    firewall_world_ports,
    public_members,
)
from resolvers.compliance.spec import PASS, Event, Verdict, event_rule, fail

SET_IAM_METHODS = ("SetIamPolicy", "setIamPolicy", "setIamPermissions", "SetIAMPolicy")


def _public_deltas(event: Event) -> tuple[list[str], list[str]]:
    """Public members added and removed by the entry's serviceData.policyDelta."""
    deltas = mappings(
        get(event.record, "protoPayload", "serviceData", "policyDelta", "bindingDeltas")
    )
    added, removed = [], []
    for delta in deltas:
        if delta.get("member") in PUBLIC_MEMBERS:
            (added if delta.get("action") == "ADD" else removed).append(
                f"{delta.get('role')}={delta.get('member')}"
            )
    return added, removed


@event_rule(
    id="gcp-event-iam-policy-made-public",
    title="An IAM policy granting access to allUsers or allAuthenticatedUsers was set",
    severity="critical",
    resource_types=(
        "storage.googleapis.com/Bucket",
        "cloudresourcemanager.googleapis.com/Project",
        "cloudkms.googleapis.com/CryptoKey",
        "bigquery.googleapis.com/Dataset",
    ),
    rationale="Binding allUsers publishes the resource to the internet the moment the policy is "
    "set.",
    remediation="Remove the public member; review the data access logs for the exposure window.",
    events=(
        "storage.googleapis.com:storage.setIamPermissions",
        "cloudresourcemanager.googleapis.com:SetIamPolicy",
        "cloudkms.googleapis.com:SetIamPolicy",
        "bigquery.googleapis.com:google.iam.v1.IAMPolicy.SetIamPolicy",
    ),
    fixed_by=(
        "gcp-storage-bucket-public-iam",
        "gcp-iam-project-public-binding",
        "gcp-kms-key-public",
        "gcp-bigquery-dataset-public",
    ),
)
def iam_policy_made_public(event: Event) -> Verdict | None:
    """Opens when SetIamPolicy (or storage.setIamPermissions) binds allUsers or
    allAuthenticatedUsers; a policy set without public members reverses it."""
    if not event.event_name.endswith(SET_IAM_METHODS):
        return None
    added, removed = _public_deltas(event)
    policy = get(event.request, "policy")
    public = public_members(policy) if isinstance(policy, dict) else {}
    if added or public:
        return fail(added=added or sorted(f"{r}={m}" for r, ms in public.items() for m in ms))
    if removed or isinstance(policy, dict):
        return PASS
    return None


def _firewall_request(event: Event) -> dict[str, Any]:
    """The firewall fields of a compute audit request (``alloweds`` is its plural spelling)."""
    request = dict(event.request)
    request.setdefault("allowed", request.get("alloweds"))
    return request


@event_rule(
    id="gcp-event-firewall-admin-port-opened",
    title="A firewall rule opening SSH or RDP to the internet was created or changed",
    severity="high",
    resource_types=("compute.googleapis.com/Firewall",),
    rationale="Administration ports opened to 0.0.0.0/0 are found by scanners within minutes.",
    remediation="Delete or narrow the rule; use IAP TCP forwarding.",
    events=(
        "compute.googleapis.com:v1.compute.firewalls.insert",
        "compute.googleapis.com:v1.compute.firewalls.patch",
        "compute.googleapis.com:v1.compute.firewalls.update",
        "compute.googleapis.com:v1.compute.firewalls.delete",
        "compute.googleapis.com:beta.compute.firewalls.insert",
        "compute.googleapis.com:beta.compute.firewalls.patch",
    ),
    fixed_by=("gcp-compute-firewall-ssh-open", "gcp-compute-firewall-rdp-open"),
)
def firewall_admin_opened(event: Event) -> Verdict | None:
    """Opens when an inserted or patched rule allows 22 or 3389 from 0.0.0.0/0 or ::/0; deleting
    the rule, or a patch that no longer does, reverses it."""
    verb = event.event_name.rsplit(".", 1)[-1]
    if verb == "delete":
        return PASS
    if verb not in ("insert", "patch", "update"):
        return None
    request = _firewall_request(event)
    if not items(request.get("allowed")) and not items(request.get("sourceRanges")):
        return None
    ports = firewall_world_ports(request, ADMIN_PORTS)
    return fail(ports=ports) if ports else PASS


RULES = (iam_policy_made_public, firewall_admin_opened)
