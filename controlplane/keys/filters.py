"""Event key filters: parsing what people type, and the checks the Event API makes."""

import ipaddress

from django.core.exceptions import ValidationError

MAX_EVENT_NAME_LENGTH = 256


def parse_event_names(text: str) -> list[str]:
    """One name per line (or comma-separated); each a non-empty name without control characters."""
    names = []
    for raw in text.replace(",", "\n").splitlines():
        name = raw.strip()
        if not name:
            continue
        if len(name) > MAX_EVENT_NAME_LENGTH or any(ord(c) < 32 or c.isspace() for c in name):
            raise ValidationError(
                f"“{name[:40]}” is not a valid event name (no spaces, at most 256 characters)."
            )
        if name not in names:
            names.append(name)
    return names


def parse_networks(text: str) -> list[str]:
    """IP addresses or CIDR networks, normalized (10.0.0.7/24 -> 10.0.0.0/24)."""
    networks = []
    for raw in text.replace(",", "\n").splitlines():
        item = raw.strip()
        if not item:
            continue
        try:
            network = str(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValidationError(f"“{item[:45]}” is not an IP address or CIDR network.") from None
        if network not in networks:
            networks.append(network)
    return networks


def event_name_allowed(*, mode: str, names: list[str], event_name: str) -> bool:
    if mode == "allow":
        return event_name in names
    if mode == "deny":
        return event_name not in names
    return True


def address_allowed(*, networks: list[str], address: str) -> bool:
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in networks)
