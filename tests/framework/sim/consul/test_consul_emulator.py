"""The Consul agent emulator answers as the agent does: malformed registrations, wrong
methods, unknown ids, health and catalog bodies, blocking queries, checks really run."""
from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest
import requests

from framework.sim.consul import EmulatedConsul
from framework.sim.consul.decode import Invalid, parse_duration
from tests.services import wait_for


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    """A TCP port that accepts (the service a TCP check reaches)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[:2]
    finally:
        sock.close()


def put(agent: EmulatedConsul, path: str, body=None, raw: bytes | None = None):
    if raw is not None:
        return requests.put(agent.url + path, data=raw, timeout=5)
    return requests.put(agent.url + path, json=body, timeout=5)


@pytest.mark.parametrize("body, text", [
    ({"Port": 9618}, "Missing service name"),
    ({"Name": "cm", "Address": "0.0.0.0"}, "Invalid service address"),
    ({"Name": "cm", "Address": "::"}, "Invalid service address"),
    ({"Name": "cm", "Port": "9618"}, "Request decode failed: json: cannot unmarshal string "
                                     "into Go struct field ServiceDefinition.Port of type int"),
    ({"Name": "cm", "Tags": "a"}, "Request decode failed: json: cannot unmarshal string into "
                                  "Go struct field ServiceDefinition.Tags of type []string"),
    ({"Name": "cm", "Check": {"TCP": "127.0.0.1:1", "Interval": "ten"}},
     'Request decode failed: time: invalid duration "ten"'),
    ({"Name": "cm", "Check": {"TCP": "127.0.0.1:1"}},
     "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService "
     "checks"),
    ({"Name": "cm", "Check": {"HTTP": "http://x/", "Interval": "1s", "TTL": "5s"}},
     "Invalid check: Interval and TTL cannot both be specified"),
    ({"Name": "cm", "Check": {"Name": "nothing"}}, "Invalid check: TTL must be > 0 for TTL "
                                                   "checks"),
    ({"Name": "cm", "Check": {"TCP": "127.0.0.1:1", "Interval": "1s", "Status": "fine"}},
     "Status for checks must 'passing', 'warning', 'critical'"),
    ({"Name": "cm", "Meta": {"a b": "x"}}, "Invalid Service Meta: Couldn't load metadata pair "
                                           "('a b', 'x'): Key contains invalid characters"),
    ({"Name": "cm", "Meta": {"consul-x": "x"}}, "Invalid Service Meta: Couldn't load metadata "
                                                "pair ('consul-x', 'x'): Key prefix 'consul-' "
                                                "is reserved for internal use"),
    (["cm"], "Request decode failed: json: cannot unmarshal array into Go value of type "
             "structs.ServiceDefinition"),
])
def test_malformed_registrations_are_400_with_the_agents_text(consul, body, text):
    resp = put(consul, "/v1/agent/service/register", body)
    assert (resp.status_code, resp.text) == (400, text)
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert requests.get(consul.url + "/v1/agent/services", timeout=5).json() == {}


def test_bodies_that_are_not_json_and_empty_bodies(consul):
    resp = put(consul, "/v1/agent/service/register", raw=b"{nope")
    assert resp.status_code == 400 and resp.text.startswith("Request decode failed: ")
    resp = put(consul, "/v1/agent/service/register", raw=b"")
    assert (resp.status_code, resp.text) == (400, "Request decode failed: EOF")


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "/v1/agent/service/register", "PUT"),
    ("POST", "/v1/agent/service/deregister/x", "PUT"),
    ("PUT", "/v1/agent/services", "GET"),
    ("DELETE", "/v1/health/service/cm", "GET"),
    ("PUT", "/v1/catalog/service/cm", "GET"),
])
def test_wrong_methods_are_405_naming_the_allowed_one(consul, method, path, allow):
    resp = requests.request(method, consul.url + path, timeout=5)
    assert resp.status_code == 405 and resp.headers["Allow"] == allow


def test_unknown_paths_and_ids(consul):
    assert requests.get(consul.url + "/v1/agent/nothing", timeout=5).status_code == 404
    resp = put(consul, "/v1/agent/service/deregister/gone")
    assert resp.status_code == 404
    assert resp.text == ('Unknown service ID "gone". Ensure that the service ID is passed, '
                         'not the service name.')


def test_a_registration_reads_back_from_agent_health_and_catalog(consul, listener):
    host, port = listener
    resp = put(consul, "/v1/agent/service/register", {
        "name": "cm", "ID": "cm-1", "address": host, "Port": port, "Tags": ["a"],
        "Meta": {"task_id": "t1"},
        "Check": {"TCP": f"{host}:{port}", "Interval": "100ms", "Timeout": "1s"}})
    assert (resp.status_code, resp.text) == (200, "")     # keys match case-insensitively
    services = requests.get(consul.url + "/v1/agent/services", timeout=5).json()
    assert services == {"cm-1": {"ID": "cm-1", "Service": "cm", "Tags": ["a"],
                                 "Meta": {"task_id": "t1"}, "Port": port, "Address": host,
                                 "Weights": {"Passing": 1, "Warning": 1},
                                 "EnableTagOverride": False, "Datacenter": "dc1"}}
    # a new check starts critical: ?passing lists it once the check has run
    assert wait_for(lambda: requests.get(consul.url + "/v1/health/service/cm?passing",
                                         timeout=5).json(), 5)
    entry = requests.get(consul.url + "/v1/health/service/cm", timeout=5).json()[0]
    assert entry["Service"]["ID"] == "cm-1" and entry["Node"]["Node"] == "htcmesos-sim"
    assert [(c["CheckID"], c["Status"]) for c in entry["Checks"]] == [
        ("serfHealth", "passing"), ("service:cm-1", "passing")]
    assert entry["Checks"][1]["Output"] == f"TCP connect {host}:{port}: Success"
    catalog = requests.get(consul.url + "/v1/catalog/service/cm", timeout=5).json()
    assert [(c["ServiceID"], c["ServiceAddress"], c["ServicePort"]) for c in catalog] == [
        ("cm-1", host, port)]
    assert requests.get(consul.url + "/v1/catalog/service/other", timeout=5).json() == []


def test_a_check_that_fails_goes_critical_and_is_reaped(consul, listener):
    host, port = listener
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    dead = free.getsockname()[1]
    free.close()                                  # nothing listens there now
    put(consul, "/v1/agent/service/register", {
        "Name": "cm", "ID": "cm-dead", "Address": host, "Port": dead,
        "Check": {"TCP": f"{host}:{dead}", "Interval": "100ms", "Timeout": "1s",
                  "DeregisterCriticalServiceAfter": "1s"}})
    entry = requests.get(consul.url + "/v1/health/service/cm", timeout=5).json()[0]
    assert entry["Checks"][1]["Status"] == "critical"
    assert requests.get(consul.url + "/v1/health/service/cm?passing=true", timeout=5).json() == []
    assert wait_for(lambda: requests.get(consul.url + "/v1/agent/services", timeout=5).json()
                    == {}, 5), "the critical service was not reaped"


def test_an_http_check_reads_the_status_code(consul):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    codes = {"/ok": 200, "/busy": 429, "/bad": 503}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(codes[self.path])
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"hi")

        def log_message(self, *args):
            pass
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        for path in codes:
            put(consul, "/v1/agent/service/register", {
                "Name": "web", "ID": f"web{path.replace('/', '-')}",
                "Check": {"HTTP": f"http://127.0.0.1:{port}{path}", "Interval": "100ms"}})

        def statuses():
            body = requests.get(consul.url + "/v1/health/service/web", timeout=5).json()
            return {e["Service"]["ID"]: e["Checks"][1]["Status"] for e in body}
        want = {"web-ok": "passing", "web-busy": "warning", "web-bad": "critical"}
        assert wait_for(lambda: statuses() == want, 5), statuses()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_blocking_queries_wait_for_a_change_and_carry_the_index(consul, listener):
    first = requests.get(consul.url + "/v1/health/service/cm", timeout=5)
    index = int(first.headers["X-Consul-Index"])
    begin = time.monotonic()
    resp = requests.get(consul.url + f"/v1/health/service/cm?index={index}&wait=300ms",
                        timeout=5)
    assert time.monotonic() - begin >= 0.3 and resp.json() == []      # nothing changed
    assert int(resp.headers["X-Consul-Index"]) == index
    box = {}

    def blocked():
        box["resp"] = requests.get(consul.url + f"/v1/catalog/service/cm?index={index}&wait=10s",
                                   timeout=15)
    waiter = threading.Thread(target=blocked)
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()
    put(consul, "/v1/agent/service/register", {"Name": "cm", "Address": listener[0]})
    waiter.join(5)
    assert not waiter.is_alive()
    assert int(box["resp"].headers["X-Consul-Index"]) > index
    assert [c["ServiceID"] for c in box["resp"].json()] == ["cm"]    # ID defaults to Name


@pytest.mark.parametrize("query, text", [("index=x", "Invalid index"),
                                         ("index=3&wait=soon", "Invalid wait time"),
                                         ("passing=maybe", "Invalid value for ?passing")])
def test_bad_query_parameters(consul, query, text):
    resp = requests.get(consul.url + f"/v1/health/service/cm?{query}", timeout=5)
    assert (resp.status_code, resp.text) == (400, text)


def test_deregister_removes_the_service_and_its_checks(consul, listener):
    put(consul, "/v1/agent/service/register", {"Name": "cm", "ID": "cm-1",
                                               "Check": {"TTL": "30s"}})
    assert put(consul, "/v1/agent/service/deregister/cm-1").status_code == 200
    assert requests.get(consul.url + "/v1/health/service/cm", timeout=5).json() == []
    assert consul.state.checks == {}
    assert put(consul, "/v1/agent/service/deregister/cm-1").status_code == 404


@pytest.mark.parametrize("text, seconds", [("10s", 10), ("1m30s", 90), ("250ms", 0.25),
                                           ("1h", 3600), ("0", 0), ("1.5s", 1.5)])
def test_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "1x", "1s ", "ten"])
def test_bad_go_durations(text):
    with pytest.raises(Invalid):
        parse_duration(text)


@pytest.mark.parametrize("body, text", [
    # lib.DecodeJSON: DisallowUnknownFields, for the service and (CheckType.UnmarshalJSON)
    # for its checks; the key as written
    ({"Name": "cm", "Colour": "red"}, 'Request decode failed: json: unknown field "Colour"'),
    ({"Name": "cm", "Check": {"TCP": "127.0.0.1:1", "Interval": "1s", "Every": "1s"}},
     'Request decode failed: json: unknown field "Every"'),
    ({"Name": "cm", "Checks": [{"TTL": "5s"}, {"TTL": "5s", "tcp_addr": "x"}]},
     'Request decode failed: json: unknown field "tcp_addr"'),
    ({"Name": "cm", "Namespace": "ns"},                 # Consul CE: EnterpriseMeta is empty
     'Request decode failed: json: unknown field "Namespace"'),
    # Go goes on after an unknown key and reports the first problem...
    ({"Nmae": "cm", "Port": "1"}, 'Request decode failed: json: unknown field "Nmae"'),
    ({"Port": "1", "Nmae": "cm"}, "Request decode failed: json: cannot unmarshal string into "
                                  "Go struct field ServiceDefinition.Port of type int"),
    # ... but an error inside a check ends the decode at once
    ({"Nmae": "cm", "Check": {"TCP": "x:1", "Interval": "ten"}},
     'Request decode failed: time: invalid duration "ten"'),
    # durations are decoded into interface{}: another type is silently zero
    # (check_type.go's type switch), and Validate speaks for a zero interval
    ({"Name": "cm", "Check": {"TCP": "127.0.0.1:1", "Interval": True}},
     "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService "
     "checks"),
    ({"Name": "cm", "Check": {"Name": "c", "TTL": ["5s"]}},
     "Invalid check: TTL must be > 0 for TTL checks"),
    ({"Name": "cm", "Checks": [{}]}, "Invalid check: TTL must be > 0 for TTL checks"),
])
def test_unknown_keys_are_refused_like_consul(consul, body, text):
    resp = put(consul, "/v1/agent/service/register", body)
    assert (resp.status_code, resp.text) == (400, text)
    assert requests.get(consul.url + "/v1/agent/services", timeout=5).json() == {}


def test_known_keys_in_any_case_and_snake_aliases_register(consul):
    """Keys match fields case-insensitively; the snake-case aliases of the wrappers count;
    a duration of the wrong type leaves the timeout and the reaper at zero (default
    timeout, never reaped); an all-zero Check is no check."""
    body = {"name": "cm", "ID": "cm-1", "port": 9618, "enable_tag_override": True,
            "Kind": "", "Weights": {"Passing": 1, "Warning": 1},
            "check": {"tcp": "127.0.0.1:1", "interval": "1h", "Timeout": {"s": 3},
                      "deregister_critical_service_after": False, "ServiceID": "x",
                      "tls_skip_verify": True}}
    resp = put(consul, "/v1/agent/service/register", body)
    assert resp.status_code == 200, resp.text
    assert requests.get(consul.url + "/v1/agent/services",
                        timeout=5).json()["cm-1"]["EnableTagOverride"] is True
    check = consul.state.checks["service:cm-1"]
    assert (check.interval_s, check.timeout_s, check.deregister_after_s) == (3600.0, 10.0, 0.0)
    resp = put(consul, "/v1/agent/service/register",
               {"Name": "plain", "Check": {"Interval": [1]}})
    assert resp.status_code == 200, resp.text
    assert [c for c in consul.state.checks.values() if c.service_id == "plain"] == []
