"""`htcmesos calico apply|check` against a real etcd (its v3 JSON gateway over HTTP)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from framework.calico import datastore
from framework.calico.etcd import EtcdClient
from framework.calico.render import render_resources
from framework.cli import cli
from framework.clock import ManualClock
from framework.spec import load_spec
from tests.framework.calico.specs import pool, spec_file

ROOT = datastore.ROOT
ALPHA = ["ippools/alpha-dc", "ippools/alpha-campus", "globalnetworkpolicies/alpha-members",
         "globalnetworkpolicies/alpha-egress", "globalnetworkpolicies/alpha-clients",
         "globalnetworkpolicies/alpha-deny"]


@pytest.fixture
def store(etcd) -> EtcdClient:
    """A client on the session's etcd, with nothing under /calico/ (only these tests
    write there)."""
    client = EtcdClient(etcd.url)
    for kv in client.get_prefix("/calico/"):
        client.delete(kv.key)
    return client


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output


def keys(client: EtcdClient) -> set[str]:
    return {kv.key for kv in client.get_prefix("/calico/")}


def stored(client: EtcdClient, name: str) -> dict:
    kv = client.get(ROOT + name)
    assert kv is not None, name
    return json.loads(kv.value)


@pytest.fixture
def alpha(tmp_path):
    return spec_file(tmp_path, pool("alpha", client_cidrs=["192.0.2.0/24"]))


def test_gateway_prefix_and_revision(store):
    before = store.revision()
    store.put("/calico/x", b"1")
    assert store.revision() == before + 1
    assert store._prefix in ("/v3", "/v3beta")           # Debian's etcd 3.4 answers /v3


def test_apply_writes_exactly_the_keys_then_nothing(store, alpha):
    code, out = invoke("calico", "apply", str(alpha), "--etcd", store.url)
    assert code == 0, out
    assert "6 change(s) written" in out
    assert keys(store) == {ROOT + k for k in ALPHA}
    rendered = {r["metadata"]["name"]: r for r in render_resources(load_spec(alpha))}
    for name in ALPHA:
        obj = stored(store, name)
        want = rendered[name.split("/")[1]]
        assert obj["spec"] == want["spec"]
        assert obj["kind"] == want["kind"] and obj["apiVersion"] == "projectcalico.org/v3"
        meta = obj["metadata"]
        assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
        assert "resourceVersion" not in meta
        assert meta["labels"]["htcmesos.io/pool"] == "alpha"
        if name.startswith("globalnetworkpolicies/"):
            assert json.loads(meta["annotations"]["projectcalico.org/metadata"]) == \
                {"name": meta["name"]}
            # Calico >= 3.32's client stores the tier label (api/pkg/defaults)
            assert meta["labels"]["projectcalico.org/tier"] == "default"
        else:
            assert "annotations" not in meta
    revision = store.revision()
    code, out = invoke("calico", "apply", str(alpha), "--etcd", store.url)
    assert (code, store.revision()) == (0, revision), out
    assert "6 resource(s) up to date, nothing written" in out
    code, out = invoke("calico", "check", str(alpha), "--etcd", store.url)
    assert code == 0 and "no drift: 6 resource(s)" in out


def test_check_names_changed_missing_and_extra_keys_and_apply_repairs(store, alpha):
    assert invoke("calico", "apply", str(alpha), "--etcd", store.url)[0] == 0
    uid_dc = stored(store, "ippools/alpha-dc")["metadata"]["uid"]
    members = stored(store, "globalnetworkpolicies/alpha-members")
    members["spec"]["ingress"][0]["destination"]["ports"] = [9619]        # behind our back
    store.put(ROOT + "globalnetworkpolicies/alpha-members", json.dumps(members).encode())
    store.delete(ROOT + "globalnetworkpolicies/alpha-egress")
    extra = {"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3",
             "metadata": {"name": "alpha-old", "labels": {"htcmesos.io/pool": "alpha"}},
             "spec": {"selector": "all()", "types": ["Ingress"]}}
    store.put(ROOT + "globalnetworkpolicies/alpha-old", json.dumps(extra).encode())
    foreign = dict(extra, metadata={"name": "someone-else"})                # not ours
    store.put(ROOT + "globalnetworkpolicies/someone-else", json.dumps(foreign).encode())

    code, out = invoke("calico", "check", str(alpha), "--etcd", store.url)
    assert code == 1
    assert (f"changed {ROOT}globalnetworkpolicies/alpha-members: "
            f"spec.ingress[0].destination.ports[0]") in out
    assert f"missing {ROOT}globalnetworkpolicies/alpha-egress" in out
    assert f"extra {ROOT}globalnetworkpolicies/alpha-old" in out
    assert "someone-else" not in out
    assert "drift: 3 difference(s)" in out

    code, out = invoke("calico", "apply", str(alpha), "--etcd", store.url)
    assert code == 0 and "3 change(s) written" in out, out
    assert keys(store) == {ROOT + k for k in ALPHA} | {ROOT + "globalnetworkpolicies/someone-else"}
    assert stored(store, "ippools/alpha-dc")["metadata"]["uid"] == uid_dc   # untouched
    assert stored(store, "globalnetworkpolicies/alpha-members")["spec"]["ingress"][0][
        "destination"]["ports"] == [9618]
    assert invoke("calico", "check", str(alpha), "--etcd", store.url)[0] == 0


def test_update_keeps_uid_and_creation_time(store, tmp_path):
    first = load_spec(spec_file(tmp_path, pool("alpha")))
    clock = ManualClock()
    uids = iter(f"uid-{i}" for i in range(100))
    plan = datastore.plan("alpha", render_resources(first), datastore.read_stored(store))
    datastore.apply(store, plan, clock, lambda: next(uids))
    before = stored(store, "ippools/alpha-campus")["metadata"]

    def no_nat(d):
        pool("alpha")(d)
        d["sites"][1]["calico"]["nat_outgoing"] = False
    second = load_spec(spec_file(tmp_path, no_nat))
    clock.advance(3600)
    plan = datastore.plan("alpha", render_resources(second), datastore.read_stored(store))
    assert [c.describe() for c in plan.changes] == \
        [f"update {ROOT}ippools/alpha-campus (spec.natOutgoing)"]
    datastore.apply(store, plan, clock, lambda: next(uids))
    after = stored(store, "ippools/alpha-campus")
    assert after["metadata"]["uid"] == before["uid"] == "uid-1"
    assert after["metadata"]["creationTimestamp"] == before["creationTimestamp"] == \
        "2023-11-14T22:13:20Z"
    assert after["spec"]["natOutgoing"] is False


def test_removed_client_cidrs_remove_the_policy(store, alpha, tmp_path):
    assert invoke("calico", "apply", str(alpha), "--etcd", store.url)[0] == 0
    plain = spec_file(tmp_path, pool("alpha"), name="plain.yaml")
    revision = store.revision()
    code, out = invoke("calico", "apply", str(plain), "--etcd", store.url, "--dry-run")
    assert code == 0 and "dry run: nothing written" in out and store.revision() == revision
    code, out = invoke("calico", "apply", str(plain), "--etcd", store.url)
    assert code == 0 and f"delete {ROOT}globalnetworkpolicies/alpha-clients" in out, out
    assert ROOT + "globalnetworkpolicies/alpha-clients" not in keys(store)


def test_foreign_key_and_overlapping_pool_are_refused_unwritten(store, alpha, tmp_path):
    foreign = {"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
               "metadata": {"name": "alpha-dc"}, "spec": {"cidr": "10.1.0.0/16"}}
    store.put(ROOT + "ippools/alpha-dc", json.dumps(foreign).encode())
    other = {"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
             "metadata": {"name": "legacy", "labels": {"htcmesos.io/pool": "beta"}},
             "spec": {"cidr": "10.2.0.0/24"}}
    store.put(ROOT + "ippools/legacy", json.dumps(other).encode())
    revision = store.revision()
    code, out = invoke("calico", "apply", str(alpha), "--etcd", store.url)
    assert code == 2
    assert f"{ROOT}ippools/alpha-dc exists and is not made by htcmesos" in out
    assert f"IPPool alpha-campus: 10.2.0.0/16 overlaps {ROOT}ippools/legacy" in out
    assert store.revision() == revision
    code, out = invoke("calico", "check", str(alpha), "--etcd", store.url)
    assert code == 1 and "conflict " in out


def test_invalid_spec_value_writes_nothing(store, tmp_path):
    # a pool name ending in "-": fine for the spec, not a label value for Calico
    bad = spec_file(tmp_path, pool("alpha-"))
    revision = store.revision()
    code, out = invoke("calico", "apply", str(bad), "--etcd", store.url)
    assert code == 2
    assert ("IPPool/alpha--dc: metadata.labels.htcmesos.io/pool: 'alpha-' is not a label "
            "value") in out
    assert store.revision() == revision and keys(store) == set()


def test_long_pool_name_is_written(store, tmp_path):
    """A 60-character pool name makes 73-character policy names: Calico bounds a policy
    name by 253 in all, not 63 per part (validator.go), so it is written."""
    name = "p" + "x" * 59
    long = spec_file(tmp_path, pool(name, client_cidrs=["192.0.2.0/24"], ssh=True))
    code, out = invoke("calico", "apply", str(long), "--etcd", store.url)
    assert code == 0, out
    assert ROOT + f"globalnetworkpolicies/{name}-submitter-ssh" in keys(store)


def test_concurrent_write_is_refused_not_merged(store, alpha):
    spec = load_spec(alpha)
    plan = datastore.plan("alpha", render_resources(spec), datastore.read_stored(store))
    store.put(ROOT + "ippools/alpha-dc", b"{}")                   # someone was faster
    with pytest.raises(datastore.CalicoDatastoreError, match="changed while applying"):
        datastore.apply(store, plan, ManualClock())
    assert keys(store) == {ROOT + "ippools/alpha-dc"}                # all or nothing


def test_unreachable_etcd_and_bad_url(alpha):
    code, out = invoke("calico", "check", str(alpha), "--etcd", "http://127.0.0.1:9")
    assert code == 1 and "etcd at http://127.0.0.1:9 did not answer" in out
    code, out = invoke("calico", "apply", str(alpha), "--etcd", "127.0.0.1:2379")
    assert code == 2 and "expected http(s)://host:port" in out
