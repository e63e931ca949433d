"""Compute Engine rules: firewall rules, networks, subnetworks, instances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get, items, mappings
from resolvers.compliance.rules._gcp import (
    FULL_SCOPE,
    data,
    is_default_sa,
    is_true,
    metadata_value,
)
from resolvers.compliance.rules._policy import firewall_world_ports
from resolvers.compliance.spec import PASS, Verdict, VersionView, state_rule, verdict

FIREWALL = ("compute.googleapis.com/Firewall",)
INSTANCE = ("compute.googleapis.com/Instance",)
PROXY_PURPOSES = ("REGIONAL_MANAGED_PROXY", "INTERNAL_HTTPS_LOAD_BALANCER", "GLOBAL_MANAGED_PROXY")


@state_rule(
    id="gcp-compute-firewall-ssh-open",
    title="Firewall rule allows SSH from the internet",
    severity="high",
    resource_types=FIREWALL,
    rationale="Port 22 open to 0.0.0.0/0 invites brute force and exploitation of SSH.",
    remediation="Restrict the source ranges, or use IAP TCP forwarding (35.235.240.0/20).",
)
def firewall_ssh_open(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an enabled ingress allow rule opens tcp/22 to 0.0.0.0/0 or ::/0."""
    return verdict(bool(firewall_world_ports(data(config), (22,))), port=22)


@state_rule(
    id="gcp-compute-firewall-rdp-open",
    title="Firewall rule allows RDP from the internet",
    severity="high",
    resource_types=FIREWALL,
    rationale="Port 3389 open to 0.0.0.0/0 exposes Windows hosts to brute force.",
    remediation="Restrict the source ranges, or use IAP TCP forwarding.",
)
def firewall_rdp_open(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an enabled ingress allow rule opens tcp/3389 to 0.0.0.0/0 or ::/0."""
    return verdict(bool(firewall_world_ports(data(config), (3389,))), port=3389)


@state_rule(
    id="gcp-compute-firewall-all-open",
    title="Firewall rule allows every port from the internet",
    severity="critical",
    resource_types=FIREWALL,
    rationale="An all-protocol or all-port rule from 0.0.0.0/0 exposes every service of every "
    "targeted instance.",
    remediation="Replace it with rules for the specific ports the service needs.",
)
def firewall_all_open(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an enabled ingress allow rule opens every port (all protocols, or tcp 1-65535)
    to the world."""
    opened = firewall_world_ports(data(config), (1, 65535))
    return verdict(opened == [1, 65535], ports="all")


@state_rule(
    id="gcp-compute-firewall-logging-off",
    title="Firewall rule logging is off",
    severity="low",
    resource_types=FIREWALL,
    rationale="Firewall logs show which connections a rule allowed or denied.",
    remediation="Enable logging on the rule (logConfig.enable).",
)
def firewall_logging_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when logConfig.enable is false."""
    return verdict(get(data(config), "logConfig", "enable") is False, log_config=False)


@state_rule(
    id="gcp-compute-default-network",
    title="Project has the default network",
    severity="medium",
    resource_types=("compute.googleapis.com/Network",),
    rationale="The default network comes with permissive pre-made firewall rules and subnets in "
    "every region.",
    remediation="Create custom networks and delete the default one.",
)
def default_network(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails for a network named 'default'."""
    return verdict(data(config).get("name") == "default", network="default")


@state_rule(
    id="gcp-compute-legacy-network",
    title="Project has a legacy network",
    severity="medium",
    resource_types=("compute.googleapis.com/Network",),
    rationale="Legacy networks have one global range and no subnets; they cannot have flow logs "
    "or private access.",
    remediation="Migrate to a VPC network.",
)
def legacy_network(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails for a network with an IPv4Range (legacy mode)."""
    return verdict(bool(data(config).get("IPv4Range")), ipv4_range=data(config).get("IPv4Range"))


@state_rule(
    id="gcp-compute-subnet-flow-logs-off",
    title="Subnetwork has VPC flow logs off",
    severity="medium",
    resource_types=("compute.googleapis.com/Subnetwork",),
    rationale="Flow logs are the record of the network's connections.",
    remediation="Enable flow logs on the subnetwork (logConfig.enable, sampling 1.0).",
)
def subnet_flow_logs_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when neither enableFlowLogs nor logConfig.enable is true (proxy-only subnets, which
    cannot have flow logs, pass)."""
    subnet = data(config)
    if not subnet or subnet.get("purpose") in PROXY_PURPOSES:
        return PASS
    on = subnet.get("enableFlowLogs") is True or get(subnet, "logConfig", "enable") is True
    return verdict(not on, flow_logs=False)


def _external_ips(instance: Mapping[str, Any]) -> list[str]:
    found = []
    for interface in mappings(instance.get("networkInterfaces")):
        for access in mappings(interface.get("accessConfigs")):
            found.append(str(access.get("natIP") or access.get("externalIp") or access.get("type")))
    return found


@state_rule(
    id="gcp-compute-instance-public-ip",
    title="VM instance has an external IP address",
    severity="medium",
    resource_types=INSTANCE,
    rationale="An external address makes the VM reachable from the internet wherever firewall "
    "rules allow.",
    remediation="Remove the access config; use Cloud NAT for egress and IAP or a load balancer "
    "for ingress.",
)
def instance_public_ip(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a network interface has an access config (external NAT)."""
    found = _external_ips(data(config))
    return verdict(bool(found), external=found)


@state_rule(
    id="gcp-compute-instance-default-sa",
    title="VM instance uses the Compute Engine default service account",
    severity="medium",
    resource_types=INSTANCE,
    rationale="The default service account has the Editor role on the project unless changed.",
    remediation="Run the VM as a dedicated, least-privilege service account.",
)
def instance_default_sa(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an attached service account is the default compute account (GKE nodes, named
    gke-*, are left to the GKE rules)."""
    instance = data(config)
    if str(instance.get("name", "")).startswith("gke-"):
        return PASS
    emails = [a.get("email") for a in mappings(instance.get("serviceAccounts"))]
    return verdict(any(is_default_sa(e) for e in emails), service_accounts=emails)


@state_rule(
    id="gcp-compute-instance-default-sa-full-access",
    title="VM instance uses the default service account with full API access",
    severity="high",
    resource_types=INSTANCE,
    rationale="The default account with the cloud-platform scope gives every process on the VM "
    "Editor over the whole project.",
    remediation="Use a dedicated service account, or limit the scopes.",
)
def instance_default_sa_full(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the default compute account is attached with the cloud-platform scope."""
    instance = data(config)
    if str(instance.get("name", "")).startswith("gke-"):
        return PASS
    full = [
        a.get("email")
        for a in mappings(instance.get("serviceAccounts"))
        if is_default_sa(a.get("email")) and FULL_SCOPE in items(a.get("scopes"))
    ]
    return verdict(bool(full), service_accounts=full)


@state_rule(
    id="gcp-compute-instance-ip-forwarding",
    title="VM instance has IP forwarding enabled",
    severity="medium",
    resource_types=INSTANCE,
    rationale="IP forwarding lets the VM route packets not addressed to it, bypassing network "
    "controls.",
    remediation="Recreate the instance with canIpForward false (unless it is a router appliance).",
)
def instance_ip_forwarding(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when canIpForward is true."""
    return verdict(data(config).get("canIpForward") is True, can_ip_forward=True)


@state_rule(
    id="gcp-compute-instance-serial-port",
    title="VM instance allows connections to its serial port",
    severity="medium",
    resource_types=INSTANCE,
    rationale="The interactive serial console bypasses network firewall rules.",
    remediation="Set metadata serial-port-enable to false.",
)
def instance_serial_port(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when instance metadata serial-port-enable is true."""
    return verdict(is_true(metadata_value(data(config), "serial-port-enable")), serial_port=True)


@state_rule(
    id="gcp-compute-instance-project-ssh-keys",
    title="VM instance accepts project-wide SSH keys",
    severity="medium",
    resource_types=INSTANCE,
    rationale="A project-wide key opens every VM of the project; blocking them limits the blast "
    "radius of one leaked key.",
    remediation="Set metadata block-project-ssh-keys to true (or use OS Login).",
)
def instance_project_ssh_keys(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the instance has metadata but block-project-ssh-keys is not true."""
    instance = data(config)
    if not isinstance(instance.get("metadata"), Mapping):
        return PASS
    return verdict(not is_true(metadata_value(instance, "block-project-ssh-keys")), blocked=False)


@state_rule(
    id="gcp-compute-instance-oslogin-disabled",
    title="VM instance disables OS Login",
    severity="medium",
    resource_types=INSTANCE,
    rationale="OS Login ties SSH access to IAM; an instance-level enable-oslogin=false opts out "
    "of the project setting.",
    remediation="Remove the enable-oslogin=false metadata (or set it to true).",
)
def instance_oslogin_disabled(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when instance metadata sets enable-oslogin to a false value."""
    value = metadata_value(data(config), "enable-oslogin")
    return verdict(value is not None and not is_true(value), enable_oslogin=value)


@state_rule(
    id="gcp-compute-instance-shielded-vm-off",
    title="VM instance is not a fully shielded VM",
    severity="low",
    resource_types=INSTANCE,
    rationale="vTPM and integrity monitoring detect boot-level tampering.",
    remediation="Enable vTPM and integrity monitoring (shieldedInstanceConfig).",
)
def instance_shielded_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when shieldedInstanceConfig is known and vTPM or integrity monitoring is off."""
    shielded = data(config).get("shieldedInstanceConfig")
    if not isinstance(shielded, dict):
        return PASS
    off = [k for k in ("enableVtpm", "enableIntegrityMonitoring") if shielded.get(k) is not True]
    return verdict(bool(off), off=off)


RULES = (
    firewall_ssh_open,
    firewall_rdp_open,
    firewall_all_open,
    firewall_logging_off,
    default_network,
    legacy_network,
    subnet_flow_logs_off,
    instance_public_ip,
    instance_default_sa,
    instance_default_sa_full,
    instance_ip_forwarding,
    instance_serial_port,
    instance_project_ssh_keys,
    instance_oslogin_disabled,
    instance_shielded_off,
)
