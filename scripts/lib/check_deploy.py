"""Checks of the deployment files that no off-the-shelf schema covers.

Run by scripts/check-deploy.sh (inside its virtualenv, which has PyYAML and
jsonschema) after docker-compose and kubernetes-validate have checked what
they know:

- the KEDA objects (kubernetes-validate has no schema for custom resources)
  against the fields this project uses, and their references;
- the ScaledObject's queues against the broker topology, so a new source or
  stage cannot be left without a trigger;
- the Deployments: probes on /healthz and /readyz of the port the role serves
  its metrics on, and ConfigMaps / Secrets they name;
- `serve` (the dashboard and API): probes on its `--bind` port, its token
  Secret mounted where DORAFLEET_SERVE__TOKEN_FILE points, its Service;
- Prometheus and Grafana in compose: every role's metrics port scraped, the
  provisioning and dashboards mounted where Grafana looks for them (the
  dashboards' own contents are checked by tests/tests/grafana_dashboards.rs);
- with the dorafleet binary: every role's command line parses, and its
  environment plus config file pass `dorafleet config check` (which rejects
  unknown keys), for compose and for Kubernetes alike.

Usage: check_deploy.py ROOT COMPOSE_RESOLVED_YAML DORAFLEET_BIN
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

ERRORS = []


def fail(where, message):
    ERRORS.append(f"{where}: {message}")


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# --- KEDA --------------------------------------------------------------------
# The subset of the keda.sh/v1alpha1 CRDs this project writes, closed
# (additionalProperties: false) so that a misspelled field fails here instead
# of being dropped by the API server.

STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
NAME_REF = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}},
    "additionalProperties": False,
}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "namespace": {"type": "string"},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
    "additionalProperties": False,
}

RABBITMQ_METADATA = {
    "type": "object",
    "required": ["queueName", "mode", "value"],
    "properties": {
        "queueName": {"type": "string", "minLength": 1},
        "mode": {"enum": ["QueueLength", "MessageRate"]},
        "value": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
        "activationValue": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
        "protocol": {"enum": ["auto", "http", "amqp"]},
        "vhostName": {"type": "string"},
        "excludeUnacknowledged": {"enum": ["true", "false"]},
        "hostFromEnv": {"type": "string"},
        "timeout": {"type": "string"},
    },
    "additionalProperties": False,
}

SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "kind": {"type": "string"},
                        "apiVersion": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {"type": "object"},
                "advanced": {
                    "type": "object",
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "behavior": {
                                    "type": "object",
                                    "properties": {
                                        "scaleUp": {"type": "object"},
                                        "scaleDown": {"type": "object"},
                                    },
                                    "additionalProperties": False,
                                },
                            },
                            "additionalProperties": False,
                        },
                        "scalingModifiers": {"type": "object"},
                    },
                    "additionalProperties": False,
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "rabbitmq"},
                            "name": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "minLength": 1},
                                    "kind": {
                                        "enum": [
                                            "TriggerAuthentication",
                                            "ClusterTriggerAuthentication",
                                        ]
                                    },
                                },
                                "additionalProperties": False,
                            },
                            "metadata": RABBITMQ_METADATA,
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["secretTargetRef"],
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "properties": {
                            "parameter": {"type": "string", "minLength": 1},
                            "name": {"type": "string", "minLength": 1},
                            "key": {"type": "string", "minLength": 1},
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

KEDA_SCHEMAS = {"ScaledObject": SCALED_OBJECT, "TriggerAuthentication": TRIGGER_AUTHENTICATION}


def validate(where, doc, schema):
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
        path = ".".join(str(p) for p in error.path) or "(top)"
        fail(where, f"{path}: {error.message}")


# --- what the code says ------------------------------------------------------


def enum_all(model_rs, enum):
    """The lower-case names in `pub const ALL: [Enum; N] = [Enum::A, ...]`."""
    m = re.search(rf"pub const ALL: \[{enum}; \d+\] = \[([^\]]*)\]", model_rs)
    if not m:
        raise SystemExit(f"crates/core/src/model.rs: no `{enum}::ALL` found")
    return [v.strip().split("::")[1].lower() for v in m.group(1).split(",") if v.strip()]


def expected_stage_queues(root, prefix):
    model_rs = (root / "crates/core/src/model.rs").read_text()
    queues = set()
    for stage in enum_all(model_rs, "Stage"):
        if stage == "extract":
            queues |= {f"{prefix}.tasks.extract.{s}" for s in enum_all(model_rs, "Source")}
        else:
            queues.add(f"{prefix}.tasks.{stage}")
    return queues


def metrics_port(args):
    if "--metrics-addr" not in args:
        return None
    return int(args[args.index("--metrics-addr") + 1].rsplit(":", 1)[1])


def bind_port(args):
    """The port of `serve --bind ADDR`, which serves /healthz and /readyz itself."""
    if not args or args[0] != "serve" or "--bind" not in args:
        return None
    return int(args[args.index("--bind") + 1].rsplit(":", 1)[1])


# --- Kubernetes --------------------------------------------------------------


def check_k8s(root):
    k8s = root / "deploy/k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    listed = kustomization.get("resources", [])
    for name in listed:
        if not (k8s / name).is_file():
            fail("deploy/k8s/kustomization.yaml", f"resource {name} does not exist")
    for path in sorted(k8s.glob("*.yaml")):
        if path.name not in listed and path.name not in ("kustomization.yaml", "secret.example.yaml"):
            fail("deploy/k8s/kustomization.yaml", f"{path.name} is not listed in resources")

    objects = {}  # (kind, name) -> (file, doc)
    for name in listed + ["secret.example.yaml"]:
        path = k8s / name
        if path.is_file():
            for doc in load_docs(path):
                objects[(doc.get("kind"), doc.get("metadata", {}).get("name"))] = (name, doc)

    def exists(kind, name):
        return (kind, name) in objects

    secret_keys = {
        name: set(doc.get("stringData", {})) | set(doc.get("data", {}))
        for (kind, name), (_, doc) in objects.items()
        if kind == "Secret"
    }

    prefix = "dorafleet"
    config_toml = None
    if exists("ConfigMap", "dorafleet-config"):
        config_toml = objects[("ConfigMap", "dorafleet-config")][1]["data"]["dorafleet.toml"]
        m = re.search(r'^\[broker\][^\[]*?^prefix\s*=\s*"([^"]+)"', config_toml, re.M | re.S)
        if m:
            prefix = m.group(1)

    for (kind, name), (file, doc) in objects.items():
        where = f"deploy/k8s/{file} {kind}/{name}"
        if kind in KEDA_SCHEMAS:
            validate(where, doc, KEDA_SCHEMAS[kind])
        if kind == "TriggerAuthentication":
            for ref in doc.get("spec", {}).get("secretTargetRef", []):
                if ref.get("key") not in secret_keys.get(ref.get("name"), set()):
                    fail(where, f"secret {ref.get('name')} (secret.example.yaml) has no key {ref.get('key')}")
        if kind == "ScaledObject":
            spec = doc.get("spec", {})
            target = spec.get("scaleTargetRef", {}).get("name")
            if not exists("Deployment", target):
                fail(where, f"scaleTargetRef names Deployment {target}, which no manifest defines")
            elif "replicas" in objects[("Deployment", target)][1]["spec"]:
                fail(where, f"Deployment {target} sets replicas: every apply would fight the autoscaler")
            if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
                fail(where, "minReplicaCount is above maxReplicaCount")
            queues = []
            for trigger in spec.get("triggers", []):
                auth = trigger.get("authenticationRef", {}).get("name")
                if not exists("TriggerAuthentication", auth):
                    fail(where, f"authenticationRef {auth} names no TriggerAuthentication")
                queue = trigger.get("metadata", {}).get("queueName")
                if queue is not None:  # a missing one is reported by the schema
                    queues.append(queue)
            expected = expected_stage_queues(root, prefix)
            if len(queues) != len(set(queues)):
                fail(where, f"a queue has more than one trigger: {sorted(queues)}")
            if set(queues) != expected:
                fail(
                    where,
                    f"triggers watch {sorted(set(queues))}, the stage queues are {sorted(expected)}"
                    f" (missing: {sorted(expected - set(queues))}, unknown: {sorted(set(queues) - expected)})",
                )
        if kind == "Deployment":
            check_deployment(where, doc, exists)
        if kind == "Service":
            check_service(where, doc, objects)
    return objects, config_toml


def check_service(where, doc, objects):
    """A Service selects a Deployment's pods and targets one of its ports."""
    selector = doc.get("spec", {}).get("selector", {})
    pods = [
        d["spec"]["template"]
        for (kind, _), (_, d) in objects.items()
        if kind == "Deployment" and selector.items() <= d["spec"]["template"]["metadata"].get("labels", {}).items()
    ]
    if not selector or not pods:
        fail(where, f"selector {selector} selects no Deployment's pods")
        return
    for port in doc["spec"].get("ports", []):
        target = port.get("targetPort", port.get("port"))
        for pod in pods:
            known = {p.get("name") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
            known |= {p.get("containerPort") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
            if target not in known:
                fail(where, f"targetPort {target} is no port of the selected pods ({sorted(map(str, known))})")


def check_deployment(where, doc, exists):
    pod = doc["spec"]["template"]["spec"]
    for container in pod.get("containers", []):
        cwhere = f"{where} container {container.get('name')}"
        args = container.get("args", [])
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        # serve answers /healthz and /readyz on its --bind port (`http`); the
        # other roles on their --metrics-addr (`metrics`).
        port, port_name, flag = bind_port(args), "http", "--bind"
        if port is None:
            port, port_name, flag = metrics_port(args), "metrics", "--metrics-addr"
        if port is None:
            fail(cwhere, "has no --metrics-addr: no /metrics, /healthz or /readyz to probe")
        elif ports.get(port_name) != port:
            fail(cwhere, f"port `{port_name}` is {ports.get(port_name)}, {flag} listens on {port}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or get.get("port") not in (port_name, port):
                fail(cwhere, f"{probe} should GET {path} on the `{port_name}` port, has {get or 'none'}")
        if args and args[0] == "serve":
            check_serve_token(cwhere, container, pod, exists)
        for source in container.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source and not exists(kind, source[key]["name"]):
                    fail(cwhere, f"envFrom names {kind} {source[key]['name']}, which no manifest defines")
    for volume in pod.get("volumes", []):
        if "configMap" in volume and not exists("ConfigMap", volume["configMap"]["name"]):
            fail(where, f"volume {volume['name']} names a ConfigMap no manifest defines")
        if "secret" in volume and not exists("Secret", volume["secret"]["secretName"]):
            fail(where, f"volume {volume['name']} names a Secret secret.example.yaml does not show")


def serve_token_path(container):
    for e in container.get("env", []):
        if e.get("name") == "DORAFLEET_SERVE__TOKEN_FILE":
            return e.get("value")
    return None


def check_serve_token(where, container, pod, exists):
    """The operator token file lies in a mounted Secret that has that key."""
    path = serve_token_path(container)
    if path is None:
        fail(where, "sets no DORAFLEET_SERVE__TOKEN_FILE: operator actions would be impossible")
        return
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        directory = mount["mountPath"].rstrip("/") + "/"
        volume = volumes.get(mount["name"], {})
        if path.startswith(directory) and "secret" in volume:
            return
    fail(where, f"DORAFLEET_SERVE__TOKEN_FILE {path} is not in a mounted Secret volume")


# --- compose -----------------------------------------------------------------


def check_compose(compose):
    """Local-only ports, a health check everywhere, roles started on health."""
    services = compose.get("services", {})
    for name, service in services.items():
        where = f"docker-compose.yml service {name}"
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else (str(port).split(":")[0] if str(port).count(":") == 2 else None)
            if host_ip != "127.0.0.1":
                fail(where, f"port {port} is not bound to 127.0.0.1")
        if "healthcheck" not in service:
            fail(where, "has no healthcheck")
        for dependency, condition in (service.get("depends_on") or {}).items():
            if isinstance(condition, dict) and condition.get("condition") != "service_healthy":
                fail(where, f"starts on {dependency} {condition.get('condition')}, not service_healthy")
            elif not isinstance(condition, dict):
                fail(where, f"depends on {dependency} without a health condition")


def compose_mounts(service):
    """{target: source} of a resolved compose service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts[volume.get("target")] = volume.get("source")
        else:
            parts = volume.split(":")
            mounts[parts[1]] = parts[0]
    return mounts


def check_observability(root, compose):
    """Prometheus scrapes every role; Grafana is provisioned from deploy/grafana."""
    services = compose.get("services", {})
    where = "deploy/prometheus/prometheus.yml"
    prometheus = yaml.safe_load((root / where).read_text())
    scraped = set()
    for job in prometheus.get("scrape_configs", []):
        targets = [t for c in job.get("static_configs", []) for t in c.get("targets", [])]
        targets += [f"{n}:{c.get('port')}" for c in job.get("dns_sd_configs", []) for n in c.get("names", [])]
        if not targets:
            fail(where, f"job {job.get('job_name')} has no targets")
        for t in targets:
            host, port = t.rsplit(":", 1)
            service = services.get(host)
            if service is None:
                fail(where, f"job {job.get('job_name')} scrapes {t}: no compose service {host}")
            elif metrics_port(service.get("command") or []) != int(port):
                fail(where, f"job {job.get('job_name')} scrapes {t}: {host} serves /metrics on "
                            f"{metrics_port(service.get('command') or [])}")
            scraped.add(host)
    for name, service in services.items():
        if metrics_port(service.get("command") or []) is not None and name not in scraped:
            fail(where, f"compose service {name} serves /metrics, but no job scrapes it")

    def mounted(service_name, source, target):
        service = services.get(service_name)
        if service is None:
            fail("docker-compose.yml", f"has no service {service_name}")
            return False
        mounts = compose_mounts(service)
        if Path(mounts.get(target, "")).resolve() != (root / source).resolve():
            fail(f"docker-compose.yml service {service_name}", f"does not mount {source} at {target}")
            return False
        return True

    mounted("prometheus", "deploy/prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml")
    mounted("grafana", "deploy/grafana/provisioning", "/etc/grafana/provisioning")
    grafana = services.get("grafana", {})
    mounts = compose_mounts(grafana)
    for path in sorted((root / "deploy/grafana/provisioning/datasources").glob("*.yaml")):
        for ds in yaml.safe_load(path.read_text()).get("datasources", []):
            host = re.sub(r"^https?://([^:/]+).*$", r"\1", ds.get("url", ""))
            if ds.get("type") == "prometheus" and host not in services:
                fail(f"deploy/grafana/provisioning/datasources/{path.name}", f"url {ds.get('url')} names no compose service")
    for path in sorted((root / "deploy/grafana/provisioning/dashboards").glob("*.yaml")):
        for provider in yaml.safe_load(path.read_text()).get("providers", []):
            target = provider.get("options", {}).get("path")
            if target not in mounts:
                fail(f"deploy/grafana/provisioning/dashboards/{path.name}", f"loads {target}, which compose does not mount")
            elif not list(Path(root / mounts[target]).glob("*.json")):
                fail(f"deploy/grafana/provisioning/dashboards/{path.name}", f"{mounts[target]} has no dashboard")
    home = (grafana.get("environment") or {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home is not None:
        directory, name = home.rsplit("/", 1)
        if directory not in mounts or not (Path(mounts[directory]) / name).is_file():
            fail("docker-compose.yml service grafana", f"home dashboard {home} is not a mounted file")


# --- the dorafleet binary ----------------------------------------------------


def run_binary(where, binary, args, env):
    """`dorafleet ARGS --help` parses ARGS; `config check` validates the env."""
    base = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    parsed = subprocess.run([binary, *args, "--help"], env=base, capture_output=True, text=True)
    if parsed.returncode != 0:
        detail = (parsed.stderr.strip().splitlines() or ["?"])[0]
        fail(where, f"`dorafleet {' '.join(args)}` does not parse: {detail}")
    checked = subprocess.run([binary, "config", "check"], env={**base, **env}, capture_output=True, text=True)
    if checked.returncode != 0:
        fail(where, f"`dorafleet config check` rejects its configuration: {checked.stderr.strip()}")


def check_roles_with_binary(root, compose, k8s_objects, config_toml, binary):
    for name, service in compose.get("services", {}).items():
        if not str(service.get("image", "")).startswith("dorafleet"):
            continue
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        for volume in service.get("volumes", []):
            source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
            if env.get("DORAFLEET_CONFIG") == target:
                env["DORAFLEET_CONFIG"] = str((root / source).resolve()) if not os.path.isabs(source) else source
        # Secrets appear as /run/secrets/NAME: the host file stands in for them.
        for secret in service.get("secrets", []):
            secret_name = secret["source"] if isinstance(secret, dict) else secret
            target = secret.get("target", secret_name) if isinstance(secret, dict) else secret_name
            target = target if target.startswith("/") else f"/run/secrets/{target}"
            source = compose.get("secrets", {}).get(secret_name, {}).get("file")
            for key, value in env.items():
                if value == target and source:
                    env[key] = str((root / source).resolve())
        run_binary(f"docker-compose.yml service {name}", binary, service.get("command", []), env)

    with tempfile.TemporaryDirectory() as tmp:
        config_env = {}
        if config_toml is not None:
            path = Path(tmp) / "dorafleet.toml"
            path.write_text(config_toml)
            config_env["DORAFLEET_CONFIG"] = str(path)
        for (kind, name), (file, doc) in k8s_objects.items():
            if kind != "Deployment":
                continue
            for container in doc["spec"]["template"]["spec"]["containers"]:
                env = {}
                for source in container.get("envFrom", []):
                    for ref_kind, key, data in (("ConfigMap", "configMapRef", "data"), ("Secret", "secretRef", "stringData")):
                        if key in source:
                            ref = k8s_objects.get((ref_kind, source[key]["name"]))
                            env.update(ref[1].get(data, {}) if ref else {})
                env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
                if "DORAFLEET_CONFIG" in env:
                    env.update(config_env)
                if "DORAFLEET_SERVE__TOKEN_FILE" in env:
                    # The token file, from the example Secret's value.
                    secret = k8s_objects.get(("Secret", "dorafleet-serve-token"))
                    token = Path(tmp) / "serve-token"
                    token.write_text(next(iter(secret[1].get("stringData", {}).values()), "") if secret else "")
                    env["DORAFLEET_SERVE__TOKEN_FILE"] = str(token)
                run_binary(f"deploy/k8s/{file} Deployment/{name}", binary, container.get("args", []), env)


def main():
    root, compose_file, binary = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    with open(compose_file) as f:
        compose = yaml.safe_load(f)
    check_compose(compose)
    check_observability(root, compose)
    objects, config_toml = check_k8s(root)
    check_roles_with_binary(root, compose, objects, config_toml, binary)
    if ERRORS:
        print("\n".join(f"  {e}" for e in ERRORS), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
