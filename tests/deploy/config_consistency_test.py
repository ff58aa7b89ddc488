#!/usr/bin/env python3
"""Static consistency of the deploy artefacts (deploy/) with each other and with the gridsentinel binary.

- every YAML and JSON file under deploy/ parses;
- the gridsentinel configs shipped in deploy/ (compose, the Kubernetes ConfigMap's data, the embedded demo) pass
  `gridsentinel check-config` (and check-config really rejects an unknown key);
- names and ports agree: metrics.bind port == Dockerfile EXPOSE == HEALTHCHECK == compose port == container port ==
  Service port == prometheus.io/port == scrape target; bootstrap servers and topics of the config == Kafka
  listener, kafka-init topics and the simulator's flags; consumer group and Deployment name == KEDA's; the
  Grafana datasource uid and URL == the dashboard's variable and the Prometheus service; the config path of the
  Dockerfile ENTRYPOINT == the compose and Kubernetes mounts;
- the Dockerfile ENTRYPOINT's subcommand and flags exist in `gridsentinel --help` / `gridsentinel run --help`, the
  simulator's in `gridsentinel simulate --help`; its runtime packages provide every shared library of the binary
  (ldd + dpkg), and its build stage installs every build dependency of scripts/install-deps.sh;
- every gridsentinel_* metric named by the rules and the dashboard is registered in src/sinks/Metrics.cc;
- `promtool check config` accepts deploy/prometheus/prometheus.yml with the compose mounts resolved.

Usage: config_consistency_test.py GRIDSENTINEL_BINARY SOURCE_DIR
"""
import atexit
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploylib import Checks  # noqa: E402

try:
    import yaml
except ImportError:  # pragma: no cover
    print("FAIL  PyYAML is missing: install Debian's python3-yaml")
    print("0 passed, 1 failed")
    sys.exit(1)

BINARY, SRC = sys.argv[1], os.path.abspath(sys.argv[2])
DEPLOY = os.path.join(SRC, "deploy")
C = Checks()


def rel(path):
    return os.path.relpath(path, SRC)


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def load_yaml_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def host_port(text):
    host, _, port = text.rpartition(":")
    assert host and port.isdigit(), f"'{text}' is not host:port"
    return host, int(port)


def help_text(*args):
    r = subprocess.run([BINARY, *args, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"gridsentinel {' '.join(args)} --help exited {r.returncode}: {r.stderr}"
    return r.stdout


def help_flags(*args):
    """The long and short options that `gridsentinel ARGS --help` lists."""
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text(*args)))


# ---------------------------------------------------------------------------------------------------------------
# 1. Everything parses.
yaml_files = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True))
json_files = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.json"), recursive=True))
for path in yaml_files:
    C.run(f"YAML parses: {rel(path)}", lambda p: f"{len(load_yaml_all(p))} document(s)", path)
for path in json_files:
    C.run(f"JSON parses: {rel(path)}", lambda p: json.load(open(p)) and None, path)
C.check("deploy/ has YAML files", len(yaml_files) >= 10, f"{len(yaml_files)} found")

COMPOSE_DIR = os.path.join(DEPLOY, "compose")
compose = load_yaml(os.path.join(COMPOSE_DIR, "docker-compose.yml"))
services = compose["services"]
compose_config_path = os.path.join(COMPOSE_DIR, "gridsentinel.yaml")
compose_cfg = load_yaml(compose_config_path)
K8S = os.path.join(DEPLOY, "k8s")
k8s_docs = []
for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
    if os.path.basename(path) != "kustomization.yaml":
        k8s_docs += load_yaml_all(path)


def k8s(kind, name=None):
    found = [d for d in k8s_docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind}{' ' + name if name else ''} in deploy/k8s, found {len(found)}"
    return found[0]


configmap = k8s("ConfigMap")
deployment = k8s("Deployment")
pod_spec = deployment["spec"]["template"]["spec"]
container = next(c for c in pod_spec["containers"] if c["name"] == "gridsentinel")
k8s_cfg_key = "config.yaml"
k8s_cfg_text = configmap["data"][k8s_cfg_key]
k8s_cfg = yaml.safe_load(k8s_cfg_text)

dockerfile_text = open(os.path.join(DEPLOY, "docker", "Dockerfile")).read()
# Logical lines: continuations joined.
docker_lines = [ln.strip() for ln in re.sub(r"\\\n", " ", dockerfile_text).splitlines()
                if ln.strip() and not ln.strip().startswith("#")]


def docker_instr(name):
    return [ln[len(name):].strip() for ln in docker_lines if ln.upper().startswith(name + " ")]


entrypoint = json.loads(docker_instr("ENTRYPOINT")[-1])
config_path_in_image = entrypoint[entrypoint.index("--config") + 1] if "--config" in entrypoint else None

# ---------------------------------------------------------------------------------------------------------------
# 2. The shipped gridsentinel configs are valid.
work = tempfile.mkdtemp(prefix="gs-deploy-consistency-")
atexit.register(shutil.rmtree, work, True)


def check_config_text(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    # ${ENV:NAME} references: the Deployment must set each one; check-config runs with them set.
    env = dict(os.environ)
    container_env = {e["name"] for e in container.get("env", [])}
    for var in re.findall(r"\$\{ENV:(\w+)\}", text):
        assert name != "k8s-configmap.yaml" or var in container_env, f"${{ENV:{var}}}: the Deployment does not set {var}"
        env[var] = "not-a-real-secret"
    r = subprocess.run([BINARY, "check-config", path], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, f"check-config exited {r.returncode}: {r.stdout}{r.stderr}"
    return r.stdout.strip().replace(path, name)


C.run("check-config: deploy/compose/gridsentinel.yaml", check_config_text, "compose-gridsentinel.yaml",
      open(compose_config_path).read())
C.run(f"check-config: deploy/k8s ConfigMap {configmap['metadata']['name']} data.{k8s_cfg_key}", check_config_text,
      "k8s-configmap.yaml", k8s_cfg_text)
C.run("check-config: deploy/config/embedded.yaml", check_config_text, "embedded.yaml",
      open(os.path.join(DEPLOY, "config", "embedded.yaml")).read())


def check_config_rejects_unknown_key():
    path = os.path.join(work, "bad.yaml")
    with open(path, "w") as f:
        f.write(open(compose_config_path).read() + "\nmetrics_typo: {bind: 0.0.0.0:9464}\n")
    r = subprocess.run([BINARY, "check-config", path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "metrics_typo" in r.stdout + r.stderr, f"exit {r.returncode}: {r.stdout}{r.stderr}"
    return "exit 2 naming the key"


C.run("check-config rejects an unknown key (the check above is real)", check_config_rejects_unknown_key)

# ---------------------------------------------------------------------------------------------------------------
# 3. Dockerfile against the binary's CLI, the runtime libraries and the build dependencies.


def check_entrypoint():
    assert entrypoint[0] == "gridsentinel", f"ENTRYPOINT starts with {entrypoint[0]}, not gridsentinel"
    sub = entrypoint[1]
    top = help_text()
    assert re.search(rf"^\s+{re.escape(sub)}\s", top, re.M), f"subcommand '{sub}' is not in gridsentinel --help"
    flags = help_flags(sub)
    used = [a for a in entrypoint[2:] if a.startswith("-")]
    missing = [a for a in used if a.split("=")[0] not in flags]
    assert not missing, f"flags {missing} are not in gridsentinel {sub} --help ({sorted(flags)})"
    assert config_path_in_image, "ENTRYPOINT passes no --config"
    return " ".join(entrypoint)


C.run("Dockerfile ENTRYPOINT subcommand and flags exist in gridsentinel --help", check_entrypoint)


def check_docker_user():
    users = docker_instr("USER")
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]} is root"
    uid = pod_spec["securityContext"].get("runAsUser")
    assert str(uid) == user or not user.isdigit(), f"k8s runAsUser {uid} != Dockerfile USER {user}"
    return f"USER {users[-1]}, k8s runAsUser {uid}"


C.run("Dockerfile runs as a non-root user (== k8s runAsUser)", check_docker_user)


def apt_packages(run_text):
    """Package names of the `apt-get install` in one RUN instruction."""
    m = re.search(r"apt-get install(.*?)(&&|$)", run_text)
    assert m, f"no apt-get install in: {run_text[:80]}"
    return [w for w in m.group(1).split() if not w.startswith("-")]


stages = re.split(r"(?im)^FROM\s+", dockerfile_text)[1:]
assert len(stages) >= 2, "the Dockerfile must be multi-stage"
build_stage, runtime_stage = stages[0], stages[-1]


def stage_packages(stage_text):
    runs = [ln for ln in re.sub(r"\\\n", " ", stage_text).splitlines() if "apt-get install" in ln]
    return sorted({p for r in runs for p in apt_packages(r)})


def check_stages():
    b, r = build_stage.split()[0], runtime_stage.split()[0]
    assert b.startswith("debian:12") and " AS " in build_stage.splitlines()[0].upper(), f"build stage FROM {b}"
    assert r == "debian:12-slim", f"runtime stage FROM {r}"
    assert "--no-install-recommends" in runtime_stage, "runtime apt-get install without --no-install-recommends"
    assert not [p for p in stage_packages(runtime_stage) if p.endswith("-dev")], "runtime stage installs -dev packages"
    return f"build FROM {b}, runtime FROM {r}"


C.run("Dockerfile is multi-stage: debian:12 build, debian:12-slim runtime without -dev packages", check_stages)


def check_build_deps():
    install = open(os.path.join(SRC, "scripts", "install-deps.sh")).read()
    pkgs = re.search(r"PKGS=\((.*?)\)", install, re.S).group(1).split()
    tests_only = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev", "libclang-rt-14-dev"}  # + the fuzz build
    needed = [p for p in pkgs if (p.endswith("-dev") and p not in tests_only)] + \
        [p for p in ("cmake", "ninja-build", "pkg-config", "protobuf-compiler") if p in pkgs]
    have = set(stage_packages(build_stage))
    missing = [p for p in needed if p not in have]
    assert not missing, f"scripts/install-deps.sh needs {missing} to build; the Dockerfile's build stage lacks them"
    return f"{len(needed)} build packages"


C.run("Dockerfile build stage installs every build dependency of scripts/install-deps.sh", check_build_deps)


def apt_closure(roots):
    """roots and everything they Depend/Pre-Depend on, recursively (apt-cache on this Debian 12 machine)."""
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                        "--no-breaks", "--no-replaces", "--no-enhances", *roots], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"apt-cache depends failed: {r.stderr}"
    names = set()
    for line in r.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        if ":" in line and line.split(":")[0].strip() in ("Depends", "PreDepends", "|Depends", "|PreDepends"):
            line = line.split(":", 1)[1].strip()
        names.add(line.strip("<>").split(":")[0])
    return names


def check_runtime_libraries():
    runtime = [p for p in stage_packages(runtime_stage)]
    closure = apt_closure(runtime)
    ldd = subprocess.run(["ldd", BINARY], capture_output=True, text=True, timeout=30)
    assert ldd.returncode == 0, ldd.stderr
    libs = re.findall(r"=>\s+(/\S+)", ldd.stdout)
    assert libs, ldd.stdout
    # A sanitizer build (GS_SANITIZE) links its runtimes; the image's Release build does not.
    libs = [lib for lib in libs if not re.match(r"lib(asan|ubsan|lsan|tsan)\.so", os.path.basename(lib))]
    uncovered = []
    for lib in libs:
        real = os.path.realpath(lib)
        owner = None
        for candidate in (lib, real, lib.replace("/lib/", "/usr/lib/", 1), real.replace("/usr/lib/", "/lib/", 1)):
            q = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if q.returncode == 0:
                owner = q.stdout.split(":")[0].strip()
                break
        if owner is None:
            uncovered.append(f"{lib} (no Debian package owns it)")
        elif owner not in closure:
            uncovered.append(f"{os.path.basename(lib)} from {owner}")
    assert not uncovered, f"not provided by the runtime packages {runtime}: {uncovered}"
    return f"{len(libs)} shared libraries covered by {runtime}"


C.run("Dockerfile runtime packages provide every shared library of the binary (ldd, dpkg -S)",
      check_runtime_libraries)


def check_docker_context():
    ignore_path = os.path.join(DEPLOY, "docker", "Dockerfile.dockerignore")
    ignore = open(ignore_path).read().split()
    for copy in docker_instr("COPY"):
        args = [a for a in copy.split() if not a.startswith("--")]
        if copy.startswith("--from"):
            continue
        for src in args[:-1]:
            path = os.path.join(SRC, src)
            assert os.path.exists(path), f"COPY {src}: not in the repository"
            pattern = "!" + src.rstrip("/") + ("/**" if os.path.isdir(path) else "")
            assert pattern in ignore, f"COPY {src}: {rel(ignore_path)} does not let it through ({pattern})"
    return "every COPY source exists and is in the build context"


C.run("Dockerfile COPY sources exist and pass Dockerfile.dockerignore", check_docker_context)

# ---------------------------------------------------------------------------------------------------------------
# 4. Ports: metrics.bind == EXPOSE == HEALTHCHECK == compose == k8s == scrape targets.
_, metrics_port = host_port(compose_cfg["metrics"]["bind"])


def check_metrics_ports():
    facts = {}
    for name, cfg in (("compose config", compose_cfg), ("k8s ConfigMap config", k8s_cfg)):
        host, port = host_port(cfg["metrics"]["bind"])
        assert host == "0.0.0.0", f"{name}: metrics.bind {cfg['metrics']['bind']} is not reachable from outside " \
                                  f"the container (bind 0.0.0.0)"
        facts[f"{name} metrics.bind"] = port
    facts["Dockerfile EXPOSE"] = int(docker_instr("EXPOSE")[-1].split("/")[0])
    hc = docker_instr("HEALTHCHECK")[-1]
    m = re.search(r"https?://[^/\s:]+:(\d+)/healthz", hc)
    assert m, f"HEALTHCHECK does not probe http://...:PORT/healthz: {hc}"
    facts["Dockerfile HEALTHCHECK"] = int(m.group(1))
    gs = services["gridsentinel"]
    container_ports = [int(str(p).split(":")[-1].split("/")[0]) for p in gs.get("ports", [])]
    assert len(container_ports) == 1, f"compose gridsentinel ports: {gs.get('ports')}"
    facts["compose gridsentinel container port"] = container_ports[0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert "metrics" in ports, f"the k8s container has no port named metrics: {container['ports']}"
    facts["k8s containerPort metrics"] = ports["metrics"]
    svc = k8s("Service")
    sp = next(p for p in svc["spec"]["ports"] if p["name"] == "metrics")
    facts["k8s Service port"] = sp["port"]
    facts["k8s Service targetPort"] = ports[sp["targetPort"]] if isinstance(sp["targetPort"], str) else sp["targetPort"]
    ann = deployment["spec"]["template"]["metadata"]["annotations"]
    assert ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/path") == "/metrics", ann
    facts["k8s prometheus.io/port"] = int(ann["prometheus.io/port"])
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = container[probe]["httpGet"]
        assert g["path"] == path, f"{probe} path {g['path']} (expected {path})"
        facts[f"k8s {probe}"] = ports[g["port"]] if isinstance(g["port"], str) else g["port"]
    pm = k8s("PodMonitor")
    ep = pm["spec"]["podMetricsEndpoints"][0]
    assert ep["port"] in ports and ep.get("path", "/metrics") == "/metrics", f"PodMonitor endpoint {ep}"
    facts["k8s PodMonitor port"] = ports[ep["port"]]
    prom = load_yaml(os.path.join(DEPLOY, "prometheus", "prometheus.yml"))
    job = next((j for j in prom["scrape_configs"] if j["job_name"] == "gridsentinel"), None)
    assert job, f"prometheus.yml has no job_name gridsentinel (the rules select job=\"gridsentinel\")"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert len(targets) == 1, targets
    t_host, t_port = host_port(targets[0])
    assert t_host == "gridsentinel" and t_host in services, f"scrape target host {t_host} is not the compose service"
    facts["prometheus.yml scrape target"] = t_port
    wrong = {k: v for k, v in facts.items() if v != metrics_port}
    assert not wrong, f"expected {metrics_port} everywhere, but: {wrong}"
    return f"{metrics_port} in {len(facts)} places"


C.run("metrics port agrees: config, Dockerfile, compose, k8s, Service, annotations, PodMonitor, scrape target",
      check_metrics_ports)

# ---------------------------------------------------------------------------------------------------------------
# 5. Compose: Kafka address, topics, simulator, mounts.


def check_compose_services():
    needed = {"kafka", "kafka-init", "gridsentinel", "simulator", "prometheus", "grafana"}
    assert needed <= set(services), f"missing services {needed - set(services)}"
    for name, s in services.items():
        deps = s.get("depends_on", [])
        for d in (deps if isinstance(deps, list) else deps.keys()):
            assert d in services, f"{name} depends on unknown service {d}"
    assert services["simulator"]["image"] == services["gridsentinel"]["image"], "simulator runs another image"
    dep_img = container["image"]
    assert dep_img == services["gridsentinel"]["image"], f"k8s image {dep_img} != compose image"
    return f"{len(services)} services; image {dep_img}"


C.run("compose: services present, depends_on resolves, one gridsentinel image (== k8s)", check_compose_services)


def compose_mounts(service):
    """container path -> host path (absolute) of a compose service's bind mounts."""
    out = {}
    for v in services[service].get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith(".") or src.startswith("/"):
            out[dst] = os.path.normpath(os.path.join(COMPOSE_DIR, src))
    return out


def check_compose_config_mount():
    mounts = compose_mounts("gridsentinel")
    assert config_path_in_image in mounts, f"gridsentinel does not mount {config_path_in_image}: {mounts}"
    assert mounts[config_path_in_image] == compose_config_path, mounts[config_path_in_image]
    return f"{rel(compose_config_path)} -> {config_path_in_image}"


C.run("compose: gridsentinel.yaml is mounted at the ENTRYPOINT's --config path", check_compose_config_mount)


def simulator_args():
    s = services["simulator"]
    ep = s.get("entrypoint", [])
    cmd = s["command"]
    argv = (ep if isinstance(ep, list) else shlex.split(ep)) + (cmd if isinstance(cmd, list) else shlex.split(cmd))
    assert argv[:2] == ["gridsentinel", "simulate"], f"simulator runs {argv[:2]}"
    return argv


def flag_value(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv else None


def check_kafka_addresses():
    bootstrap = compose_cfg["kafka"]["bootstrap_servers"]
    host, port = host_port(bootstrap)
    assert host in services, f"kafka.bootstrap_servers host {host} is not a compose service"
    env = services[host]["environment"]
    advertised = [a.split("://", 1)[1] for a in env["KAFKA_ADVERTISED_LISTENERS"].split(",")]
    assert bootstrap in advertised, f"{bootstrap} is not an advertised listener of {host}: {advertised}"
    sim = flag_value(simulator_args(), "--bootstrap-servers")
    assert sim == bootstrap, f"simulator --bootstrap-servers {sim} != config {bootstrap}"
    init_cmd = " ".join(services["kafka-init"]["command"])
    assert f"--bootstrap-server {bootstrap}" in init_cmd, "kafka-init uses another bootstrap address"
    return f"{bootstrap} (config, advertised listener, simulator, kafka-init)"


C.run("compose: Kafka address agrees (config, listener, simulator, kafka-init)", check_kafka_addresses)


def config_topics(cfg):
    t = cfg.get("topics", {})
    inputs = t.get("inputs") or [{"name": "meter-readings", "kind": "meter", "format": "protobuf"},
                                 {"name": "meter-readings-json", "kind": "meter", "format": "json"},
                                 {"name": "infra-metrics", "kind": "infra", "format": "protobuf"}]
    return inputs, t.get("alerts", "gridsentinel-alerts"), t.get("dead_letter", "gridsentinel-dead-letters")


def check_topics():
    inputs, alerts, dead = config_topics(compose_cfg)
    init_cmd = " ".join(services["kafka-init"]["command"])
    created = set(re.findall(r"[\w.-]+", init_cmd))
    names = [i["name"] for i in inputs] + [alerts, dead]
    missing = [n for n in names if n not in created]
    assert not missing, f"kafka-init does not create {missing}"
    argv = simulator_args()
    topic = flag_value(argv, "--topic") or "meter-readings"
    batch = int(flag_value(argv, "--batch") or 1)
    match = [i for i in inputs if i["name"] == topic]
    assert match, f"simulator --topic {topic} is not an input topic of the config ({[i['name'] for i in inputs]})"
    i = match[0]
    want = "MeterReadingBatch" if batch > 1 else "MeterReading"
    assert i.get("kind", "meter") == "meter" and i.get("format", "protobuf") == "protobuf" and \
        i.get("message", "MeterReading") == want, f"simulator writes protobuf {want} to {topic}, config says {i}"
    assert config_topics(k8s_cfg) == (inputs, alerts, dead), "the k8s ConfigMap names other topics than compose"
    return f"{names}; simulator -> {topic} ({want})"


C.run("topics agree: config == kafka-init == simulator --topic (format and message) == k8s", check_topics)


def check_simulator_flags():
    argv = simulator_args()
    flags = help_flags("simulate")
    used = [a for a in argv[2:] if a.startswith("-")]
    missing = [a for a in used if a not in flags]
    assert not missing, f"{missing} are not in gridsentinel simulate --help"
    return " ".join(argv)


C.run("compose: the simulator's flags exist in gridsentinel simulate --help", check_simulator_flags)


def check_prometheus_compose():
    mounts = compose_mounts("prometheus")
    prom_yml = os.path.join(DEPLOY, "prometheus", "prometheus.yml")
    assert mounts.get("/etc/prometheus/prometheus.yml") == prom_yml, mounts
    prom = load_yaml(prom_yml)
    resolved = []
    for rf in prom["rule_files"]:
        host = None
        for dst, src in mounts.items():
            if rf == dst or rf.startswith(dst.rstrip("/") + "/"):
                host = src + rf[len(dst):]
        assert host and glob.glob(host), f"rule file {rf} does not resolve through the compose mounts {mounts}"
        resolved += glob.glob(host)
    # promtool check config on a copy with the rule files at their paths in the repository.
    prom["rule_files"] = resolved
    path = os.path.join(work, "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(prom, f)
    r = subprocess.run(["promtool", "check", "config", path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = [j["job_name"] for j in prom["scrape_configs"]]
    rules_text = open(os.path.join(DEPLOY, "prometheus", "rules", "gridsentinel.rules.yml")).read()
    for job in set(re.findall(r'job="([^"]+)"', rules_text)):
        assert job in jobs, f"the rules select job=\"{job}\", prometheus.yml has jobs {jobs}"
    return f"rule files {[rel(p) for p in resolved]}; promtool check config OK"


C.run("compose: prometheus.yml and rules mounted, rule_files resolve, promtool check config passes",
      check_prometheus_compose)


def check_grafana():
    mounts = compose_mounts("grafana")
    prov = os.path.join(DEPLOY, "grafana", "provisioning")
    assert mounts.get("/etc/grafana/provisioning") == prov, f"provisioning not mounted: {mounts}"
    ds = load_yaml(os.path.join(prov, "datasources", "prometheus.yml"))["datasources"]
    prom_ds = [d for d in ds if d["type"] == "prometheus"]
    assert len(prom_ds) == 1, ds
    url = prom_ds[0]["url"]
    m = re.match(r"https?://([^:/]+):(\d+)", url)
    assert m and m.group(1) in services, f"datasource URL {url}: host is not a compose service"
    listen = [a for a in services[m.group(1)].get("command", []) if a.startswith("--web.listen-address")]
    prom_port = int(listen[0].rsplit(":", 1)[1]) if listen else 9090
    assert int(m.group(2)) == prom_port, f"datasource port {m.group(2)} != prometheus {prom_port}"
    providers = load_yaml(os.path.join(prov, "dashboards", "gridsentinel.yml"))["providers"]
    dash_path = providers[0]["options"]["path"]
    assert dash_path in mounts, f"dashboard provider path {dash_path} is not a grafana mount: {mounts}"
    dash_file = os.path.join(mounts[dash_path], "gridsentinel.json")
    assert os.path.exists(dash_file), f"{dash_file} missing"
    dash = json.load(open(dash_file))
    var = next(v for v in dash["templating"]["list"] if v["type"] == "datasource")
    assert var["query"] == "prometheus" and var["current"]["value"] == prom_ds[0]["uid"], \
        f"dashboard datasource variable {var['current']} != provisioned uid {prom_ds[0]['uid']}"
    bad = []

    def walk(panels):
        for p in panels:
            for obj in [p] + p.get("targets", []):
                d = obj.get("datasource")
                if d is not None and d.get("uid") not in ("${" + var["name"] + "}", prom_ds[0]["uid"]) \
                        and p.get("type") != "row":
                    bad.append((p.get("title"), d))
            walk(p.get("panels", []))

    walk(dash["panels"])
    assert not bad, f"panels with another datasource: {bad}"
    return f"datasource uid {prom_ds[0]['uid']} at {url}; dashboard at {dash_path}"


C.run("grafana: provisioning mounted, datasource URL == prometheus service, dashboard uses the provisioned uid",
      check_grafana)

# ---------------------------------------------------------------------------------------------------------------
# 6. Kubernetes.


def check_k8s_wiring():
    kustom = load_yaml(os.path.join(K8S, "kustomization.yaml"))
    for r in kustom["resources"]:
        assert os.path.exists(os.path.join(K8S, r)), f"kustomization lists missing {r}"
    listed = {os.path.basename(p) for p in glob.glob(os.path.join(K8S, "*.yaml"))} - {"kustomization.yaml"}
    assert listed == set(kustom["resources"]), f"kustomization resources {kustom['resources']} != files {listed}"
    tmpl_labels = deployment["spec"]["template"]["metadata"]["labels"]
    sel = deployment["spec"]["selector"]["matchLabels"]
    assert sel.items() <= tmpl_labels.items(), "Deployment selector does not match its pod labels"
    svc = k8s("Service")
    assert svc["spec"]["selector"].items() <= tmpl_labels.items(), "Service selector does not match the pods"
    pm = k8s("PodMonitor")
    assert pm["apiVersion"] == "monitoring.coreos.com/v1"
    assert pm["spec"]["selector"]["matchLabels"].items() <= tmpl_labels.items(), "PodMonitor selector misses"
    job = tmpl_labels.get(pm["spec"].get("jobLabel", ""), None)
    assert job == "gridsentinel", f"PodMonitor job would be {job!r}, the rules expect job=\"gridsentinel\""
    # The config volume: the ConfigMap's key mounted at the ENTRYPOINT's --config path.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert config_path_in_image in mounts, f"nothing mounted at {config_path_in_image}"
    m = mounts[config_path_in_image]
    vol = next(v for v in pod_spec["volumes"] if v["name"] == m["name"])
    assert vol.get("configMap", {}).get("name") == configmap["metadata"]["name"], f"config volume {vol}"
    assert m.get("subPath") == k8s_cfg_key, f"subPath {m.get('subPath')} != ConfigMap key {k8s_cfg_key}"
    # Files the config points at (TLS CA) are in a mounted volume.
    for key, value in k8s_cfg["kafka"].get("properties", {}).items():
        if key.endswith(".location"):
            assert any(value.startswith(p.rstrip("/") + "/") for p in mounts), f"{key}={value} is in no volume"
    password = k8s_cfg["kafka"].get("properties", {}).get("sasl.password")
    assert password is None or re.fullmatch(r"\$\{ENV:\w+\}", password), "a password in a ConfigMap"
    res = container["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"], res
    return f"config {configmap['metadata']['name']}/{k8s_cfg_key} -> {config_path_in_image}; job=gridsentinel"


C.run("k8s: kustomization, selectors, PodMonitor job label, config and TLS mounts, resources", check_k8s_wiring)


def check_keda():
    so = k8s("ScaledObject")
    ta = k8s("TriggerAuthentication")
    assert so["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"], "scaleTargetRef"
    assert so["spec"]["minReplicaCount"] >= 1, "minReplicaCount < 1: no instance left to export metrics"
    trig = [t for t in so["spec"]["triggers"] if t["type"] == "kafka"]
    assert len(trig) == 1, so["spec"]["triggers"]
    md = trig[0]["metadata"]
    assert md["consumerGroup"] == k8s_cfg["kafka"].get("group_id", "gridsentinel"), \
        f"KEDA consumerGroup {md['consumerGroup']} != kafka.group_id"
    assert md["bootstrapServers"] == k8s_cfg["kafka"]["bootstrap_servers"], "KEDA bootstrapServers != config"
    if "topic" in md:
        assert md["topic"] in [i["name"] for i in config_topics(k8s_cfg)[0]], f"KEDA topic {md['topic']}"
    assert trig[0]["authenticationRef"]["name"] == ta["metadata"]["name"], "authenticationRef"
    return f"group {md['consumerGroup']} at {md['bootstrapServers']}, replicas " \
           f"{so['spec']['minReplicaCount']}..{so['spec']['maxReplicaCount']}"


C.run("k8s: KEDA ScaledObject targets the Deployment, the config's consumer group and bootstrap", check_keda)

# ---------------------------------------------------------------------------------------------------------------
# 7. Every metric the rules and the dashboard use is registered by gridsentinel.


def check_metric_names():
    metrics_cc = open(os.path.join(SRC, "src", "sinks", "Metrics.cc")).read()
    registered = set(re.findall(r'Name\("(gridsentinel_[a-z0-9_]+)"\)', metrics_cc))
    assert registered, "no metric names found in src/sinks/Metrics.cc"
    histograms = set(re.findall(r'BuildHistogram\(\)\s*\.Name\("(gridsentinel_[a-z0-9_]+)"\)', metrics_cc))
    known = set(registered)
    for h in histograms:
        known |= {h + "_bucket", h + "_sum", h + "_count"}
    used = {}
    for path in [os.path.join(DEPLOY, "prometheus", "rules", "gridsentinel.rules.yml"),
                 os.path.join(DEPLOY, "grafana", "dashboards", "gridsentinel.json")]:
        for name in re.findall(r"\bgridsentinel_[a-z0-9_]+", open(path).read()):
            used.setdefault(name, set()).add(os.path.basename(path))
    unknown = {n: sorted(f) for n, f in used.items() if n not in known}
    assert not unknown, f"not registered in src/sinks/Metrics.cc: {unknown}"
    return f"{len(used)} metric names used, all registered"


C.run("rules and dashboard use only metrics registered in src/sinks/Metrics.cc", check_metric_names)


def check_rules_shape():
    rules = load_yaml(os.path.join(DEPLOY, "prometheus", "rules", "gridsentinel.rules.yml"))
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    names = {r["alert"] for r in alerts}
    required = {"GridsentinelDown", "ConsumerLagGrowing", "DeadLetterRateHigh", "AlertStorm", "ProducerErrors"}
    assert required <= names, f"missing alerts {required - names}"
    for r in alerts:
        assert r.get("labels", {}).get("severity") in ("critical", "warning", "info"), f"{r['alert']}: severity"
        ann = r.get("annotations", {})
        assert ann.get("summary") and ann.get("description"), f"{r['alert']}: summary and description"
    tests = load_yaml(os.path.join(DEPLOY, "prometheus", "rules", "gridsentinel.rules.test.yml"))
    fired = {e["alertname"] for t in tests["tests"] for e in t.get("alert_rule_test", []) if e.get("exp_alerts")}
    quiet = {e["alertname"] for t in tests["tests"] for e in t.get("alert_rule_test", []) if not e.get("exp_alerts")}
    assert names <= fired and names <= quiet, \
        f"every alert needs a firing and a quiet test case: no fire {names - fired}, no quiet {names - quiet}"
    return f"{sorted(names)}"


C.run("rules: the five alerts, each with severity, summary, description, firing and quiet tests", check_rules_shape)

C.finish()
