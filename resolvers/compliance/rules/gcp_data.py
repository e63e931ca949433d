"""GCP data rules: Cloud Storage, Cloud SQL, BigQuery, Cloud DNS, Cloud KMS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get, mappings, seconds
from resolvers.compliance.rules._gcp import data, iam_policy
from resolvers.compliance.rules._policy import PUBLIC_MEMBERS, WORLD_V4, public_members
from resolvers.compliance.spec import PASS, Verdict, VersionView, state_rule, verdict

BUCKET = ("storage.googleapis.com/Bucket",)
SQL = ("sqladmin.googleapis.com/Instance",)
ZONE = ("dns.googleapis.com/ManagedZone",)
KEY = ("cloudkms.googleapis.com/CryptoKey",)
ROTATION_MAX_S = 90 * 86_400


@state_rule(
    id="gcp-storage-bucket-public-iam",
    title="Cloud Storage bucket IAM grants access to allUsers or allAuthenticatedUsers",
    severity="critical",
    resource_types=BUCKET,
    rationale="A binding to allUsers or allAuthenticatedUsers makes the bucket's objects "
    "readable (or writable) by anyone.",
    remediation="Remove the allUsers / allAuthenticatedUsers members; enforce public access "
    "prevention.",
)
def bucket_public_iam(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a bucket IAM binding has allUsers or allAuthenticatedUsers as a member."""
    found = public_members(iam_policy(config))
    return verdict(bool(found), bindings=found)


@state_rule(
    id="gcp-storage-bucket-public-acl",
    title="Cloud Storage bucket ACL grants access to allUsers or allAuthenticatedUsers",
    severity="critical",
    resource_types=BUCKET,
    rationale="Legacy ACL entries for allUsers make the bucket public regardless of IAM.",
    remediation="Remove the public ACL entries and turn on uniform bucket-level access.",
)
def bucket_public_acl(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a bucket ACL entry's entity is allUsers or allAuthenticatedUsers."""
    entities = [a.get("entity") for a in mappings(data(config).get("acl"))]
    public = [entity for entity in entities if entity in PUBLIC_MEMBERS]
    return verdict(bool(public), entities=public)


@state_rule(
    id="gcp-storage-bucket-uniform-access-off",
    title="Cloud Storage bucket does not use uniform bucket-level access",
    severity="medium",
    resource_types=BUCKET,
    rationale="With uniform access, IAM alone decides access; object ACLs cannot quietly make "
    "objects public.",
    remediation="Enable uniform bucket-level access (iamConfiguration.uniformBucketLevelAccess).",
)
def bucket_uniform_access_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the bucket's data is known and neither uniformBucketLevelAccess nor its old
    name bucketPolicyOnly is enabled."""
    bucket = data(config)
    if not bucket:
        return PASS
    settings = bucket.get("iamConfiguration")
    on = any(
        get(settings, name, "enabled") is True
        for name in ("uniformBucketLevelAccess", "bucketPolicyOnly")
    )
    return verdict(not on, uniform_bucket_level_access=False)


def _ip_configuration(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = get(data(config), "settings", "ipConfiguration")
    return value if isinstance(value, dict) else None


@state_rule(
    id="gcp-sql-instance-public-ip",
    title="Cloud SQL instance has a public IP address",
    severity="medium",
    resource_types=SQL,
    rationale="A public address exposes the database endpoint to the internet.",
    remediation="Use private IP only (ipConfiguration.ipv4Enabled false).",
)
def sql_public_ip(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when settings.ipConfiguration.ipv4Enabled is true."""
    return verdict(get(_ip_configuration(config), "ipv4Enabled") is True, ipv4_enabled=True)


@state_rule(
    id="gcp-sql-instance-ssl-not-required",
    title="Cloud SQL instance accepts unencrypted connections",
    severity="high",
    resource_types=SQL,
    rationale="Without required SSL, credentials and data may cross the network in the clear.",
    remediation="Require SSL (sslMode ENCRYPTED_ONLY or TRUSTED_CLIENT_CERTIFICATE_REQUIRED).",
)
def sql_ssl_not_required(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the IP configuration is known and neither requireSsl nor an encrypting
    sslMode is set (the API omits requireSsl when false)."""
    ip = _ip_configuration(config)
    if ip is None:
        return PASS
    mode = ip.get("sslMode")
    secure = ip.get("requireSsl") is True or mode in (
        "ENCRYPTED_ONLY",
        "TRUSTED_CLIENT_CERTIFICATE_REQUIRED",
    )
    return verdict(not secure, require_ssl=ip.get("requireSsl"), ssl_mode=mode)


@state_rule(
    id="gcp-sql-instance-open-to-world",
    title="Cloud SQL instance authorizes 0.0.0.0/0",
    severity="critical",
    resource_types=SQL,
    rationale="An authorized network of 0.0.0.0/0 lets any address on the internet connect.",
    remediation="Remove the 0.0.0.0/0 authorized network; use the Cloud SQL Auth Proxy.",
)
def sql_open_to_world(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an authorized network's value is 0.0.0.0/0."""
    values = [
        n.get("value") for n in mappings(get(_ip_configuration(config), "authorizedNetworks"))
    ]
    return verdict(WORLD_V4 in values, authorized_networks=values)


@state_rule(
    id="gcp-sql-instance-backups-off",
    title="Cloud SQL instance has automated backups off",
    severity="medium",
    resource_types=SQL,
    rationale="Without backups, data lost to a mistake or an attack cannot be restored.",
    remediation="Enable automated backups (settings.backupConfiguration.enabled).",
)
def sql_backups_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when settings.backupConfiguration is known and not enabled (read replicas, which
    cannot have backups, pass)."""
    instance = data(config)
    backup = get(instance, "settings", "backupConfiguration")
    if not isinstance(backup, dict) or instance.get("instanceType") == "READ_REPLICA_INSTANCE":
        return PASS
    return verdict(backup.get("enabled") is not True, backups=False)


@state_rule(
    id="gcp-bigquery-dataset-public",
    title="BigQuery dataset is accessible to allUsers or allAuthenticatedUsers",
    severity="critical",
    resource_types=("bigquery.googleapis.com/Dataset",),
    rationale="A public dataset exposes every table in it.",
    remediation="Remove allUsers / allAuthenticatedUsers from the dataset's IAM and access list.",
)
def bigquery_dataset_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the dataset IAM or access list names allUsers or allAuthenticatedUsers."""
    found = public_members(iam_policy(config))
    for entry in mappings(data(config).get("access")):
        member = entry.get("specialGroup") or entry.get("iamMember")
        if member in PUBLIC_MEMBERS:
            found.setdefault(str(entry.get("role")), []).append(member)
    return verdict(bool(found), access=found)


def _dnssec(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    zone = data(config)
    if not zone or str(zone.get("visibility", "public")).lower() != "public":
        return None
    value = zone.get("dnssecConfig")
    return value if isinstance(value, dict) else {}


@state_rule(
    id="gcp-dns-dnssec-off",
    title="Public Cloud DNS zone has DNSSEC off",
    severity="medium",
    resource_types=ZONE,
    rationale="DNSSEC protects the zone's answers against spoofing and cache poisoning.",
    remediation="Turn DNSSEC on for the zone (dnssecConfig.state ON).",
)
def dns_dnssec_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails for a public zone whose dnssecConfig.state is not ON."""
    dnssec = _dnssec(config)
    if dnssec is None:
        return PASS
    return verdict(dnssec.get("state") != "ON", state=dnssec.get("state"))


def _rsasha1(config: Mapping[str, Any], key_type: str) -> Verdict:
    specs = mappings(get(_dnssec(config), "defaultKeySpecs"))
    weak = any(s.get("keyType") == key_type and s.get("algorithm") == "RSASHA1" for s in specs)
    return verdict(weak, key_type=key_type, algorithm="RSASHA1")


@state_rule(
    id="gcp-dns-rsasha1-key-signing",
    title="Cloud DNS zone signs keys with RSASHA1",
    severity="medium",
    resource_types=ZONE,
    rationale="RSASHA1 is a weak algorithm for DNSSEC key-signing keys.",
    remediation="Use RSASHA256 (or ECDSA) for the key-signing key.",
)
def dns_rsasha1_ksk(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a KEY_SIGNING key spec uses RSASHA1."""
    return _rsasha1(config, "KEY_SIGNING")


@state_rule(
    id="gcp-dns-rsasha1-zone-signing",
    title="Cloud DNS zone signs the zone with RSASHA1",
    severity="medium",
    resource_types=ZONE,
    rationale="RSASHA1 is a weak algorithm for DNSSEC zone-signing keys.",
    remediation="Use RSASHA256 (or ECDSA) for the zone-signing key.",
)
def dns_rsasha1_zsk(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a ZONE_SIGNING key spec uses RSASHA1."""
    return _rsasha1(config, "ZONE_SIGNING")


@state_rule(
    id="gcp-kms-key-rotation",
    title="Cloud KMS key does not rotate within 90 days",
    severity="medium",
    resource_types=KEY,
    rationale="Regular rotation limits how much data one key version protects.",
    remediation="Set a rotation period of 90 days or less on the key.",
)
def kms_key_rotation(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails for a symmetric (ENCRYPT_DECRYPT) key whose rotationPeriod is absent or longer
    than 90 days."""
    key = data(config)
    if key.get("purpose") != "ENCRYPT_DECRYPT":
        return PASS
    period = seconds(key.get("rotationPeriod"))
    return verdict(
        period is None or period > ROTATION_MAX_S, rotation_period=key.get("rotationPeriod")
    )


@state_rule(
    id="gcp-kms-key-public",
    title="Cloud KMS key is accessible to allUsers or allAuthenticatedUsers",
    severity="critical",
    resource_types=KEY,
    rationale="Anyone could use (or manage) a key bound to allUsers.",
    remediation="Remove the public members from the key's IAM policy.",
)
def kms_key_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the key's IAM policy binds allUsers or allAuthenticatedUsers."""
    found = public_members(iam_policy(config))
    return verdict(bool(found), bindings=found)


RULES = (
    bucket_public_iam,
    bucket_public_acl,
    bucket_uniform_access_off,
    sql_public_ip,
    sql_ssl_not_required,
    sql_open_to_world,
    sql_backups_off,
    bigquery_dataset_public,
    dns_dnssec_off,
    dns_rsasha1_ksk,
    dns_rsasha1_zsk,
    kms_key_rotation,
    kms_key_public,
)
