"""GCP state-rule cases: policy-library CAI fixtures (line numbers of the corpus file; the
fixture folder each comes from is in its .index.tsv and in the comment)."""

from __future__ import annotations

from typing import Any

from test_compliance_cases import Case, cai, setitem


def _add_binding(role: str, member: str) -> Any:
    def change(asset: dict) -> None:
        asset.setdefault("iam_policy", {}).setdefault("bindings", []).append(
            {"role": role, "members": [member]}
        )

    return change


def _metadata(key: str, value: str) -> Any:
    def change(asset: dict) -> None:
        items = asset["resource"]["data"]["metadata"]["items"]
        items[:] = [item for item in items if item["key"] != key] + [{"key": key, "value": value}]

    return change


DATA = ("resource", "data")
GCP_CASES: dict[str, tuple[Case, Case]] = {
    # restricted_firewall_rules: 254 tcp/123 only; 249 all tcp; 251 tcp 0-65535; 253 4000-4100;
    # 258 has tcp/22 but is disabled; 262 all protocols from 0.0.0.0/0
    "gcp-compute-firewall-ssh-open": (cai(258), cai(249)),
    "gcp-compute-firewall-rdp-open": (cai(253), cai(251)),
    "gcp-compute-firewall-all-open": (cai(254), cai(262)),
    # network_enable_firewall_logs: good / bad
    "gcp-compute-firewall-logging-off": (cai(231), cai(230)),
    # network_restrict_default: test-network / default
    "gcp-compute-default-network": (cai(242), cai(241)),
    "gcp-compute-legacy-network": (
        cai(242),
        cai(242, setitem(*DATA, "IPv4Range", value="10.0.0.0/8")),
    ),
    # network_enable_flow_logs: correct / bad
    "gcp-compute-subnet-flow-logs-off": (cai(233), cai(232)),
    # compute_ip_forward: vm-cant-forward (no external IP, no forwarding) / vm-ip-forward
    "gcp-compute-instance-public-ip": (cai(61), cai(62)),
    "gcp-compute-instance-ip-forwarding": (cai(61), cai(62)),
    # compute_network_interface: valid-instance runs as 216968792402-compute@developer...
    "gcp-compute-instance-default-sa": (cai(61), cai(64)),
    # compute_block_ssh_keys: test-jumphost, email "default" with the cloud-platform scope
    "gcp-compute-instance-default-sa-full-access": (cai(61), cai(48)),
    "gcp-compute-instance-serial-port": (cai(48), cai(48, _metadata("serial-port-enable", "true"))),
    # compute_block_ssh_keys: instance_no_violation / instance_violation
    "gcp-compute-instance-project-ssh-keys": (cai(48), cai(49)),
    # compute_enable_oslogin: instance_no_violation (true) / the jumphost with false
    "gcp-compute-instance-oslogin-disabled": (cai(58), cai(48)),
    "gcp-compute-instance-shielded-vm-off": (
        cai(48),
        cai(48, setitem(*DATA, "shieldedInstanceConfig", "enableVtpm", value=False)),
    ),
    # storage_bucket_world_readable: my-third-test-bucket / my-test-bucket (allUsers)
    "gcp-storage-bucket-public-iam": (cai(340), cai(338)),
    "gcp-storage-bucket-public-acl": (
        cai(320),
        cai(320, setitem(*DATA, "acl", value=[{"entity": "allUsers", "role": "READER"}])),
    ),
    # storage_bucket_policy_only: bucketpolicyonly enabled / enabled null
    "gcp-storage-bucket-uniform-access-off": (cai(320), cai(322)),
    # sql_public_ip: private-sql / public-sql
    "gcp-sql-instance-public-ip": (cai(313), cai(315)),
    # sql_ssl: with-ssl / without-ssl
    "gcp-sql-instance-ssl-not-required": (cai(316), cai(317)),
    # sql_allowed_authorized_networks (35.187.118.0/24) / sql_world_readable (0.0.0.0/0)
    "gcp-sql-instance-open-to-world": (cai(293), cai(319)),
    # sql_backup: mysqlv2-withmaintenance (on) / mysqlv2-nomaintenance (off)
    "gcp-sql-instance-backups-off": (cai(296), cai(295)),
    # bigquery_dataset_world_readable: not-world-readable / allAuthenticatedUsers
    "gcp-bigquery-dataset-public": (cai(26), cai(23)),
    # dnssec_prevent_rsasha1 and compute_block_ssh_keys/no_instances zones: correct / wrong-off
    "gcp-dns-dnssec-off": (cai(51), cai(52)),
    "gcp-dns-rsasha1-key-signing": (cai(51), cai(74)),
    "gcp-dns-rsasha1-zone-signing": (cai(51), cai(73)),
    # cmek_rotation: rotation-90-days / rotation-never
    "gcp-kms-key-rotation": (cai(42), cai(40)),
    "gcp-kms-key-public": (
        cai(39),
        cai(39, _add_binding("roles/cloudkms.cryptoKeyDecrypter", "allUsers")),
    ),
    # iam_audit_log: project "good" (no bindings) / iam_allow_ban_roles project 12345
    "gcp-iam-project-public-binding": (cai(222), cai(214)),
    "gcp-iam-sa-impersonation-at-project": (cai(222), cai(214)),
    "gcp-iam-basic-roles": (cai(222), cai(214)),
    "gcp-iam-service-account-admin": (
        cai(214),
        cai(214, _add_binding("roles/editor", "serviceAccount:ci@p-12345.iam.gserviceaccount.com")),
    ),
    # gcp_iam_restrict_service_account_key_type: SYSTEM_MANAGED / USER_MANAGED (2017)
    "gcp-iam-user-managed-sa-key": (cai(153), cai(152)),
    "gcp-iam-sa-key-not-rotated": (cai(153), cai(152)),
}
