"""deploy/kubernetes: rendered by kubectl's kustomize and checked against the Kubernetes schemas, offline."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_tools import KUBERNETES_DIR, drain_seconds, kustomize, schema_errors

BASE = KUBERNETES_DIR / "base"
GPU = KUBERNETES_DIR / "gpu"
BACKENDS = {"text-service": ("TEXT", 50051), "image-service": ("IMAGE", 50052)}


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return kustomize(BASE)


@pytest.fixture(scope="module")
def gpu() -> list[dict[str, Any]]:
    return kustomize(GPU)


def _find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


@pytest.mark.parametrize("directory", [BASE, GPU], ids=["base", "gpu"])
def test_every_rendered_manifest_matches_the_kubernetes_schema(directory: Path) -> None:
    manifests = kustomize(directory)
    assert manifests
    errors = [error for error in map(schema_errors, manifests) if error]
    assert not errors, "\n".join(errors)


def test_every_plain_yaml_file_is_valid_on_its_own_and_listed_in_the_kustomization() -> None:
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    files = {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert files == listed
    for name in sorted(files):
        for manifest in yaml.safe_load_all((BASE / name).read_text()):
            assert schema_errors(manifest) is None, schema_errors(manifest)


def test_the_schema_check_rejects_a_misspelt_probe(base: list[dict[str, Any]]) -> None:
    """The validation above can fail: an unknown field in a probe breaks the strict schema."""
    deployment = _find(base, "Deployment", "text-service")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    _container(broken)["readinessProbe"] = {"grcp": {"port": 50051}}
    assert "grcp" in (schema_errors(broken) or "")


@pytest.mark.parametrize("name", BACKENDS)
def test_backends_are_probed_with_the_native_grpc_health_probe(base: list[dict[str, Any]], name: str) -> None:
    container = _container(_find(base, "Deployment", name))
    (port,) = container["ports"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": port["containerPort"]}, f"{name} {probe}"
    assert port["containerPort"] == BACKENDS[name][1]


@pytest.mark.parametrize("name", BACKENDS)
def test_backends_listen_on_all_interfaces_on_their_container_port(base: list[dict[str, Any]], name: str) -> None:
    prefix, port = BACKENDS[name]
    env = _env(_container(_find(base, "Deployment", name)))
    assert env[f"HEARTH_{prefix}_HOST"] == "0.0.0.0"
    assert env[f"HEARTH_{prefix}_PORT"] == str(port)


@pytest.mark.parametrize("name", BACKENDS)
def test_backends_have_headless_services_that_select_their_pods(base: list[dict[str, Any]], name: str) -> None:
    service = _find(base, "Service", name)
    deployment = _find(base, "Deployment", name)
    assert service["spec"]["clusterIP"] == "None"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == BACKENDS[name][1]
    assert port["targetPort"] in (port["port"], _container(deployment)["ports"][0]["name"])


def test_the_gateway_round_robins_over_every_backend_replica_through_dns(base: list[dict[str, Any]]) -> None:
    env = _env(_container(_find(base, "Deployment", "gateway")))
    for name, (prefix, port) in BACKENDS.items():
        target = env[f"HEARTH_GATEWAY_{prefix}_TARGET"]
        assert target == f"dns:///{name}:{port}"
        assert _find(base, "Service", name)["spec"]["clusterIP"] == "None"


def test_the_gateway_has_http_probes_and_a_service_on_8000(base: list[dict[str, Any]]) -> None:
    deployment = _find(base, "Deployment", "gateway")
    container = _container(deployment)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert _env(container)["HEARTH_GATEWAY_HOST"] == "0.0.0.0"
    assert deployment["spec"]["replicas"] >= 2
    (port,) = _find(base, "Service", "gateway")["spec"]["ports"]
    assert port["port"] == 8000


def test_the_api_key_comes_from_an_optional_secret(base: list[dict[str, Any]]) -> None:
    container = _container(_find(base, "Deployment", "gateway"))
    (api_key,) = [item for item in container["env"] if item["name"] == "HEARTH_GATEWAY_API_KEY"]
    assert "value" not in api_key
    assert api_key["valueFrom"]["secretKeyRef"]["optional"] is True


@pytest.mark.parametrize("name", BACKENDS)
def test_backends_mount_the_weights_volume_read_only(base: list[dict[str, Any]], name: str) -> None:
    deployment = _find(base, "Deployment", name)
    container = _container(deployment)
    (mount,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/mnt/models"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    claim = volume["persistentVolumeClaim"]
    assert claim["readOnly"] is True
    pvc = _find(base, "PersistentVolumeClaim", claim["claimName"])
    assert "ReadWriteMany" in pvc["spec"]["accessModes"], "replicas on several nodes must share the weights"


@pytest.mark.parametrize("name", [*BACKENDS, "gateway"])
def test_pods_get_time_to_drain_after_leaving_the_endpoints(base: list[dict[str, Any]], name: str) -> None:
    deployment = _find(base, "Deployment", name)
    pre_stop = _container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 1, "SIGTERM would race the endpoint removal"
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > pre_stop + drain_seconds()[name]


def test_the_text_service_scales_horizontally(base: list[dict[str, Any]]) -> None:
    hpa = _find(base, "HorizontalPodAutoscaler", "text-service")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "text-service")
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert "replicas" not in _find(base, "Deployment", "text-service")["spec"], "a re-apply would undo the HPA"


@pytest.mark.parametrize("name", [*BACKENDS, "gateway"])
def test_containers_request_resources_and_run_as_non_root(base: list[dict[str, Any]], name: str) -> None:
    deployment = _find(base, "Deployment", name)
    container = _container(deployment)
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_gpu_overlay_gives_each_backend_one_gpu_and_the_cuda_image(
    base: list[dict[str, Any]], gpu: list[dict[str, Any]]
) -> None:
    for name in BACKENDS:
        container = _container(_find(gpu, "Deployment", name))
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert container["image"] == f"hearth/{name}:gpu"
        assert "nvidia.com/gpu" not in _container(_find(base, "Deployment", name))["resources"]["limits"]
        assert _container(_find(base, "Deployment", name))["image"] == f"hearth/{name}:cpu"
    assert "nvidia.com/gpu" not in _container(_find(gpu, "Deployment", "gateway"))["resources"]["limits"]


@pytest.mark.parametrize("name", [*BACKENDS, "gateway"])
def test_every_container_runs_non_root_on_a_read_only_root_with_a_scratch_tmp(
    base: list[dict[str, Any]], name: str
) -> None:
    """The hardening tests/deploy/test_containers.py runs the images with, so what passes there runs here."""
    deployment = _find(base, "Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    (tmp,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == tmp["name"]]
    assert "emptyDir" in volume
