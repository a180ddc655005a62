"""How a policy directory becomes OPA bundles, and what a governance team is told when it cannot."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.adapters.bundle_server import opa_config
from gateway.adapters.opa_process import LocalOpa, free_port
from gateway.adapters.policy_source import load_policy_source
from gateway.app import create_app
from gateway.cli import app as cli
from gateway.errors import InvalidRequest
from tests.conftest import POLICY_DIR, Gateway
from tests.factories import instance, request

SET = """sets:
  - name: {name}
    bundle: {bundle}
    query: {query}
    rego_version: {version}
"""


def _dir(tmp_path, *sets: tuple[str, str, str, str], files: dict[str, str]):
    root = tmp_path / "p"
    root.mkdir()
    (root / "policy-sets.yaml").write_text(
        "sets:\n"
        + "".join(SET.split("\n", 1)[1].format(name=n, bundle=b, query=q, version=v) for n, b, q, v in sets)
    )
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_roots_come_from_packages_and_revisions_from_content(tmp_path):
    root = _dir(
        tmp_path,
        ("a", "a", "data.x.a", "v0"),
        files={"a/p.rego": "package x.a\n\ndeny[m] { m := \"no\" }\n", "a/p_test.rego": "package x.a_test\n",
               "data/limits.json": '{"limits": {"max": 3}}', "data/extra/more.yaml": "k: 1\n"},
    )  # fmt: skip
    src = load_policy_source(root)
    a = src.bundles["a"]
    assert a.roots == ["x/a"] and a.rego_version == 0 and list(a.files) == ["p.rego"]
    assert json.loads(src.bundles["data"].files["data/data.json"]) == {
        "limits": {"max": 3},
        "extra": {"k": 1},
    }
    assert load_policy_source(root).revisions == src.revisions  # same files, same revisions
    (root / "a" / "p.rego").write_text('package x.a\n\ndeny[m] { m := "changed" }\n')
    again = load_policy_source(root).revisions
    assert again["a"] != src.revisions["a"] and again["data"] == src.revisions["data"]
    with tarfile.open(fileobj=io.BytesIO(a.tarball())) as tar:
        manifest = json.load(tar.extractfile("/.manifest"))  # type: ignore[arg-type]
    assert manifest == {"revision": a.revision, "roots": ["x/a"], "rego_version": 0}


def test_a_manifest_in_the_directory_sets_roots_and_prefixes_the_revision(tmp_path):
    root = _dir(
        tmp_path, ("a", "a", "data.x.a", "v1"),
        files={"a/p.rego": "package x.a.b\n", "a/.manifest": '{"roots": ["x"], "revision": "v2.3"}'},
    )  # fmt: skip
    b = load_policy_source(root).bundles["a"]
    assert b.roots == ["x"] and b.revision.startswith("v2.3@sha256:")


@pytest.mark.parametrize(
    ("sets", "files", "message"),
    [
        ([("a", "a", "data.x", "v1"), ("b", "b", "data.x.y", "v1")],
         {"a/p.rego": "package x\n", "b/p.rego": "package x.y\n"}, "both claim data.x"),
        ([("a", "missing", "data.x", "v1")], {}, "does not exist"),
        ([("a", "lib", "data.x", "v1")], {"lib/p.rego": "package x\n"}, "reserved"),
        ([("a", "a", "data.x", "v1")], {"a/p.rego": "package x\n", "data/one.json": '{"k": 1}',
                                         "data/two.json": '{"k": 2}'}, "data.data.k is defined twice"),
        ([("a", "a", "data.x", "v1"), ("a", "a", "data.x", "v1")], {"a/p.rego": "package x\n"}, "unique"),
    ],
)  # fmt: skip
def test_a_broken_policy_directory_says_what_is_wrong(tmp_path, sets, files, message):
    with pytest.raises(InvalidRequest, match=message):
        load_policy_source(_dir(tmp_path, *sets, files=files))


POLICY = 'package x.a\n\ndeny contains "big" if input.v > 1\n\nwarn contains "w" if input.w\n'
TEST = 'package x.a_test\n\nimport data.x.a\n\ntest_big if a.deny == {"%s"} with input as {"v": 2}\n'


def test_policy_test_fails_on_a_failing_rego_test_and_on_low_coverage(tmp_path):
    root = _dir(
        tmp_path, ("a", "a", "data.x.a", "v1"), files={"a/p.rego": POLICY, "a/p_test.rego": TEST % "big"}
    )
    result = CliRunner().invoke(cli, ["policy", "test", "--policies", str(root), "--threshold", "95"])
    assert result.exit_code == 1 and "coverage" in result.output and "FAIL" in result.output
    assert (
        CliRunner().invoke(cli, ["policy", "test", "--policies", str(root), "--threshold", "50"]).exit_code
        == 0
    )
    (root / "a" / "p_test.rego").write_text(
        'package x.a_test\n\nimport data.x.a\n\ntest_big if a.deny == {"small"} with input as {"v": 2}\n'
    )
    result = CliRunner().invoke(cli, ["policy", "test", "--policies", str(root), "--threshold", "0"])
    assert result.exit_code == 1 and "test_big" in result.output


def test_an_external_opa_takes_its_bundles_from_the_gateway(settings, tmp_path):
    """Production shape: OPA runs elsewhere and is configured with the gateway's bundle address only."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, policies)
    port = free_port()
    opa = LocalOpa(f"http://127.0.0.1:{port}", tmp_path / "opa")
    # Started before the gateway: OPA retries until the bundle server answers.
    assert opa_config(f"http://127.0.0.1:{port}")["discovery"]["decision"] == "gateway_discovery/config"
    opa.start(revisions={}, timeout=5)
    try:
        app = create_app(settings.model_copy(update={
            "opa_url": opa.url, "policy_dir": policies, "bundle_addr": f"127.0.0.1:{port}",
        }))  # fmt: skip
        with TestClient(app) as client:
            gw = Gateway(client)
            alice = gw.token("alice", groups=["payments"])
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            d = client.post("/v1/evaluate", json=request(instance()), headers=alice).json()
            assert d["outcome"] == "approved"
            loaded = httpx.get(f"{opa.url}/v1/data/system/bundles").json()["result"]
            assert {name: b["manifest"]["revision"] for name, b in loaded.items()} == d["policy_revisions"]
    finally:
        opa.stop()
