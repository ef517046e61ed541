"""Strict JSON schemas of Mesos v1 scheduler calls (proto2 messages in proto3 JSON form).

Stricter than Mesos on purpose: an unknown field anywhere, an unknown enum name, a float
where an integer belongs or a non-object where a message belongs is a 400, so that typos
in our client fail in tests rather than silently do nothing on a real master (which
ignores unknown fields). A few rarely used nested messages (``linux_info``,
``offer_filters``, ``limits``, persistent-volume fields, …) are only checked to be
objects. Like Mesos: ``null`` means "unset", numbers may be given as
decimal strings, ``bytes`` are base64, and proto2 ``required`` fields must be present.
"""
from __future__ import annotations

import base64
from typing import Any

from .jsonspec import (ANY_OBJECT, BOOL, BYTES, DOUBLE, INT64, STR, UINT32, Enum, Lst, Msg,
                             SchemaError)


ID = Msg({"value": STR}, ("value",))
LABELS = Msg({"labels": Lst(Msg({"key": STR, "value": STR}, ("key",)))})
DURATION = Msg({"nanoseconds": INT64}, ("nanoseconds",))
PARAMETER = Msg({"key": STR, "value": STR}, ("key", "value"))
FILTERS = Msg({"refuse_seconds": DOUBLE})

VALUE_TYPE = Enum("SCALAR", "RANGES", "SET", "TEXT")
RANGES = Msg({"range": Lst(Msg({"begin": UINT32, "end": UINT32}, ("begin", "end")))})
RESOURCE = Msg({
    "name": STR, "type": VALUE_TYPE, "scalar": Msg({"value": DOUBLE}, ("value",)),
    "ranges": RANGES, "set": Msg({"item": Lst(STR)}), "role": STR,
    "allocation_info": Msg({"role": STR}),
    "reservations": Lst(Msg({"type": Enum("UNKNOWN", "STATIC", "DYNAMIC"), "role": STR,
                             "principal": STR, "labels": LABELS})),
    "reservation": ANY_OBJECT, "disk": ANY_OBJECT, "revocable": ANY_OBJECT, "shared": ANY_OBJECT,
    "provider_id": ID,
}, ("name", "type"))
RESOURCES = Lst(RESOURCE)

SECRET = Msg({"type": Enum("UNKNOWN", "REFERENCE", "VALUE"),
              "reference": Msg({"name": STR, "key": STR}, ("name",)),
              "value": Msg({"data": BYTES}, ("data",))})
ENVIRONMENT = Msg({"variables": Lst(Msg({
    "name": STR, "type": Enum("UNKNOWN", "VALUE", "SECRET"), "value": STR, "secret": SECRET,
}, ("name",)))})
URI = Msg({"value": STR, "executable": BOOL, "extract": BOOL, "cache": BOOL,
           "output_file": STR}, ("value",))
COMMAND = Msg({"uris": Lst(URI), "environment": ENVIRONMENT, "shell": BOOL, "value": STR,
               "arguments": Lst(STR), "user": STR})

PORT_MAPPING = Msg({"host_port": UINT32, "container_port": UINT32, "protocol": STR},
                   ("host_port", "container_port"))
DOCKER = Msg({
    "image": STR, "network": Enum("HOST", "BRIDGE", "NONE", "USER"),
    "port_mappings": Lst(PORT_MAPPING), "privileged": BOOL, "parameters": Lst(PARAMETER),
    "force_pull_image": BOOL, "volume_driver": STR,
}, ("image",))
NETWORK_INFO = Msg({
    "ip_addresses": Lst(Msg({"protocol": Enum("IPv4", "IPv6"), "ip_address": STR})),
    "name": STR, "groups": Lst(STR), "labels": LABELS, "port_mappings": Lst(PORT_MAPPING),
})
VOLUME_SOURCE = Msg({
    "type": Enum("UNKNOWN", "DOCKER_VOLUME", "HOST_PATH", "SANDBOX_PATH", "SECRET", "CSI_VOLUME"),
    "docker_volume": Msg({"driver": STR, "name": STR, "driver_options": Msg({"parameter": Lst(PARAMETER)})},
                         ("name",)),
    "host_path": Msg({"path": STR, "mount_propagation": Msg({"mode": Enum(
        "UNKNOWN", "HOST_TO_CONTAINER", "BIDIRECTIONAL")})}, ("path",)),
    "sandbox_path": Msg({"type": Enum("UNKNOWN", "SELF", "PARENT"), "path": STR}, ("path",)),
    "secret": SECRET,
})
VOLUME = Msg({"container_path": STR, "host_path": STR, "mode": Enum("RW", "RO"),
              "image": ANY_OBJECT, "source": VOLUME_SOURCE}, ("container_path", "mode"))
CONTAINER = Msg({
    "type": Enum("DOCKER", "MESOS"), "volumes": Lst(VOLUME), "hostname": STR, "docker": DOCKER,
    "mesos": Msg({"image": Msg({"type": Enum("APPC", "DOCKER"), "docker": Msg({"name": STR}, ("name",)),
                                "cached": BOOL}, ("type",))}),
    "network_infos": Lst(NETWORK_INFO),
    "linux_info": ANY_OBJECT, "rlimit_info": ANY_OBJECT, "tty_info": ANY_OBJECT,
}, ("type",))

HTTP_CHECK = Msg({"scheme": STR, "port": UINT32, "path": STR, "statuses": Lst(UINT32),
                  "protocol": Enum("IPv4", "IPv6")}, ("port",))
TCP_CHECK = Msg({"port": UINT32, "protocol": Enum("IPv4", "IPv6")}, ("port",))
HEALTH_CHECK = Msg({
    "type": Enum("UNKNOWN", "COMMAND", "HTTP", "TCP"), "http": HTTP_CHECK, "tcp": TCP_CHECK,
    "command": COMMAND, "delay_seconds": DOUBLE, "interval_seconds": DOUBLE,
    "timeout_seconds": DOUBLE, "consecutive_failures": UINT32, "grace_period_seconds": DOUBLE,
})
CHECK = Msg({
    "type": Enum("UNKNOWN", "COMMAND", "HTTP", "TCP"), "command": Msg({"command": COMMAND}, ("command",)),
    "http": Msg({"port": UINT32, "path": STR}, ("port",)), "tcp": Msg({"port": UINT32}, ("port",)),
    "delay_seconds": DOUBLE, "interval_seconds": DOUBLE, "timeout_seconds": DOUBLE,
})
DISCOVERY = Msg({
    "visibility": Enum("FRAMEWORK", "CLUSTER", "EXTERNAL"), "name": STR, "environment": STR,
    "location": STR, "version": STR,
    "ports": Msg({"ports": Lst(Msg({"number": UINT32, "name": STR, "protocol": STR,
                                    "visibility": Enum("FRAMEWORK", "CLUSTER", "EXTERNAL"),
                                    "labels": LABELS}, ("number",)))}),
    "labels": LABELS,
}, ("visibility",))
KILL_POLICY = Msg({"grace_period": DURATION})
EXECUTOR = Msg({
    "type": Enum("UNKNOWN", "DEFAULT", "CUSTOM"), "executor_id": ID, "framework_id": ID,
    "command": COMMAND, "container": CONTAINER, "resources": RESOURCES, "name": STR,
    "source": STR, "data": BYTES, "discovery": DISCOVERY, "shutdown_grace_period": DURATION,
    "labels": LABELS,
}, ("executor_id",))
TASK_INFO = Msg({
    "name": STR, "task_id": ID, "agent_id": ID, "resources": RESOURCES, "executor": EXECUTOR,
    "command": COMMAND, "container": CONTAINER, "health_check": HEALTH_CHECK, "check": CHECK,
    "kill_policy": KILL_POLICY, "data": BYTES, "labels": LABELS, "discovery": DISCOVERY,
    "max_completion_time": DURATION, "limits": ANY_OBJECT,
}, ("name", "task_id", "agent_id"))

OPERATION_TYPES = ("UNKNOWN", "LAUNCH", "LAUNCH_GROUP", "RESERVE", "UNRESERVE", "CREATE",
                   "DESTROY", "GROW_VOLUME", "SHRINK_VOLUME", "CREATE_DISK", "DESTROY_DISK")
OPERATION = Msg({"type": Enum(*OPERATION_TYPES), "id": ID,
                 "launch": Msg({"task_infos": Lst(TASK_INFO)})})

CAPABILITIES = ("UNKNOWN", "REVOCABLE_RESOURCES", "TASK_KILLING_STATE", "GPU_RESOURCES",
                "SHARED_RESOURCES", "PARTITION_AWARE", "MULTI_ROLE", "RESERVATION_REFINEMENT",
                "REGION_AWARE")
FRAMEWORK_INFO = Msg({
    "user": STR, "name": STR, "id": ID, "failover_timeout": DOUBLE, "checkpoint": BOOL,
    "role": STR, "roles": Lst(STR), "hostname": STR, "principal": STR, "webui_url": STR,
    "capabilities": Lst(Msg({"type": Enum(*CAPABILITIES)})), "labels": LABELS,
    "offer_filters": ANY_OBJECT,
}, ("user", "name"))

CALL_TYPES = ("SUBSCRIBE", "TEARDOWN", "ACCEPT", "DECLINE", "ACCEPT_INVERSE_OFFERS",
              "DECLINE_INVERSE_OFFERS", "REVIVE", "KILL", "SHUTDOWN", "ACKNOWLEDGE",
              "ACKNOWLEDGE_OPERATION_STATUS", "RECONCILE", "RECONCILE_OPERATIONS", "MESSAGE",
              "REQUEST", "SUPPRESS", "UPDATE_FRAMEWORK")
ROLES = Msg({"roles": Lst(STR)})
CALL = Msg({
    "framework_id": ID,
    "type": Enum(*CALL_TYPES),
    "subscribe": Msg({"framework_info": FRAMEWORK_INFO, "suppressed_roles": Lst(STR),
                      "offer_constraints": ANY_OBJECT}, ("framework_info",)),
    "accept": Msg({"offer_ids": Lst(ID), "operations": Lst(OPERATION), "filters": FILTERS}),
    "decline": Msg({"offer_ids": Lst(ID), "filters": FILTERS}),
    "accept_inverse_offers": Msg({"inverse_offer_ids": Lst(ID), "filters": FILTERS}),
    "decline_inverse_offers": Msg({"inverse_offer_ids": Lst(ID), "filters": FILTERS}),
    "revive": ROLES,
    "suppress": ROLES,
    "kill": Msg({"task_id": ID, "agent_id": ID, "kill_policy": KILL_POLICY}, ("task_id",)),
    "shutdown": Msg({"executor_id": ID, "agent_id": ID}, ("executor_id", "agent_id")),
    "acknowledge": Msg({"agent_id": ID, "task_id": ID, "uuid": BYTES}, ("agent_id", "task_id", "uuid")),
    "reconcile": Msg({"tasks": Lst(Msg({"task_id": ID, "agent_id": ID}, ("task_id",)))}),
    "message": Msg({"agent_id": ID, "executor_id": ID, "data": BYTES}, ("agent_id", "executor_id", "data")),
    "request": Msg({"requests": Lst(Msg({"agent_id": ID, "resources": RESOURCES}))}),
})
#: Known to Mesos but not emulated: answered 400 with a message saying so.
UNSUPPORTED_CALLS = frozenset({"ACKNOWLEDGE_OPERATION_STATUS", "RECONCILE_OPERATIONS",
                               "UPDATE_FRAMEWORK"})


def validate_call(call: Any) -> str:
    """Check a decoded call body against :data:`CALL`; return its type or raise SchemaError.

    Besides the schema: ``type`` must be present, the payload named after it must be
    present where Mesos requires it, and operations other than LAUNCH (reservations,
    volumes, task groups) are refused because the emulated agents do not have them.
    """
    CALL.check(call, "")
    kind = call.get("type")
    if kind is None:
        raise SchemaError("type", "Expecting 'type' to be present")
    if kind in UNSUPPORTED_CALLS:
        raise SchemaError("type", f"{kind} is a Mesos call this emulator does not implement")
    payload = kind.lower()
    if kind not in ("TEARDOWN", "REVIVE", "SUPPRESS") and call.get(payload) is None:
        raise SchemaError(payload, f"Expecting '{payload}' to be present")
    if kind == "ACKNOWLEDGE":
        raw = base64.b64decode(call["acknowledge"]["uuid"])
        if len(raw) != 16:
            raise SchemaError("acknowledge.uuid", f"Invalid UUID: {len(raw)} bytes, expected 16")
    if kind == "ACCEPT":
        for i, op in enumerate(call["accept"].get("operations") or []):
            if op.get("type") != "LAUNCH":
                raise SchemaError(f"accept.operations[{i}].type",
                                  f"operation {op.get('type')} is not supported by this emulator (LAUNCH only)")
            if op.get("launch") is None:
                raise SchemaError(f"accept.operations[{i}].launch", "LAUNCH operation without 'launch'")
    return kind
