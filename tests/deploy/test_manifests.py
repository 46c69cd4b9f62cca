"""The Kubernetes manifests in deploy/k8s/ against the Kubernetes schemas (kubernetes-validate bundles them, so
this runs offline), and against what the app and the hall's nginx need."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VERSION = kubernetes_validate.latest_version()


def documents() -> dict[tuple[str, str], dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


DOCS = documents()


def app_upload_mb() -> int:
    text = (ROOT / ".streamlit" / "config.toml").read_text()
    return int(re.search(r"^\s*maxUploadSize\s*=\s*(\d+)", text, re.M).group(1))


def test_the_manifests_hold_what_a_cluster_needs():
    assert set(DOCS) == {("Deployment", "moeviz"), ("Service", "moeviz"), ("Ingress", "moeviz"),
                         ("Deployment", "moeviz-redis"), ("Service", "moeviz-redis")}


@pytest.mark.parametrize("key", sorted(DOCS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_each_manifest_matches_the_kubernetes_schema(key):
    kubernetes_validate.validate(DOCS[key], VERSION, strict=True)


def test_the_validator_refuses_a_misspelt_field():
    bad = copy.deepcopy(DOCS[("Deployment", "moeviz")])
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSION, strict=True)


def test_probes_ask_streamlits_health_endpoint():
    container = DOCS[("Deployment", "moeviz")]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/_stcore/health"
        assert container[probe]["httpGet"]["port"] in ports


def test_ingress_keeps_a_browser_on_one_pod_and_takes_the_apps_uploads():
    ingress = DOCS[("Ingress", "moeviz")]
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert notes["nginx.ingress.kubernetes.io/affinity-mode"] == "persistent"
    assert notes["nginx.ingress.kubernetes.io/session-cookie-name"] == "moeviz_hall"  # the name the self-check cites
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == f"{app_upload_mb() + 1}m"
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = DOCS[("Service", backend["name"])]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_services_select_their_pods():
    for name in ("moeviz", "moeviz-redis"):
        labels = DOCS[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        assert DOCS[("Service", name)]["spec"]["selector"].items() <= labels.items()


def test_the_app_finds_redis_and_names_its_pod():
    container = DOCS[("Deployment", "moeviz")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    redis_port = DOCS[("Service", "moeviz-redis")]["spec"]["ports"][0]["port"]
    assert env["MOEVIZ_REDIS_URL"]["value"] == f"redis://moeviz-redis:{redis_port}/0"
    assert env["MOEVIZ_PROCESS_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
