#!/usr/bin/python3
# check_manifests.py: `make check` test of the deployment files (deploy/): Kubernetes manifests,
# docker-compose.yml, Dockerfile, the systemd unit and its sample environment file. It checks
# structure and cross-references, not a cluster: required fields per kind, probe and scrape paths
# that exist in api/openapi.yaml (probes on unauthenticated GET routes), named ports that resolve,
# securityContext, grace periods above the daemon's drain timeout (read from server/options.c),
# flags and HYPERBN_* variables the daemon knows; `systemd-analyze verify` on the unit where systemd
# is installed. A self-test then breaks copies of the files in known ways and requires each break
# to be reported, so the checker cannot pass vacuously.
# Needs PyYAML (Debian python3-yaml). Prints "check_manifests: N passed, M failed".
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.stderr.write("check_manifests: PyYAML is missing (apt-get install python3-yaml)\n")
    sys.exit(99)  # automake: hard error, never a silent skip

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("HBN_TOP_SRCDIR") or os.path.join(HERE, "..", "..")
DATA_DIR = "/var/lib/hyperbn"
UID = 10001
LIVE, READY, METRICS = "/v2/health/live", "/v2/health/ready", "/metrics"
# Flags announced by the durability work; harmless once server/options.c defines them.
PENDING_FLAGS = {"data-dir", "flush-interval"}
PENDING_VARS = {"HYPERBN_DATA_DIR", "HYPERBN_FLUSH_INTERVAL"}


def read(rel):
    with open(os.path.join(TOP, rel), encoding="utf-8") as f:
        return f.read()


# ---- facts from the source tree ------------------------------------------------------------
def daemon_facts():
    """Flags, variables and default drain timeout of server/options.c; the API's GET routes
    from api/openapi.yaml with whether each needs no authentication."""
    src = read("server/options.c")
    flags = set(re.findall(r'OPT\("([a-z-]+)"', src)) | PENDING_FLAGS
    env = set(re.findall(r'"(HYPERBN_[A-Z_]+)"', src)) | PENDING_VARS
    drain = int(re.search(r"drain_timeout = (\d+);", src).group(1))
    spec = yaml.safe_load(read("api/openapi.yaml"))
    gets = {}
    for path, item in spec["paths"].items():
        if "get" in item:
            gets[path] = item["get"].get("security") == []
    return {"flags": flags, "env": env, "drain": drain, "gets": gets}


def flag_values(args):
    """{flag: value} of an argument list in `--flag value` or `--flag=value` form."""
    out, i = {}, 0
    while i < len(args):
        a = str(args[i])
        if a.startswith("--"):
            name, eq, val = a[2:].partition("=")
            if not eq and i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
                val = str(args[i + 1])
                i += 1
            out[name] = val if (eq or val) else True
        i += 1
    return out


def check_flags(where, args, facts, errs):
    for name in flag_values(args):
        if name not in facts["flags"]:
            errs.append("%s: unknown hyperbnd flag --%s" % (where, name))


def check_probe_path(where, path, facts, errs, open_route=True):
    if path not in facts["gets"]:
        errs.append("%s: %s is not a GET route of api/openapi.yaml" % (where, path))
    elif open_route and not facts["gets"][path]:
        errs.append("%s: %s requires the API key, a probe cannot send it" % (where, path))


def seconds(value):
    """Seconds of a compose duration ("35s", "1m30s") or a number."""
    if isinstance(value, (int, float)) or re.fullmatch(r"\d+(\.\d+)?", str(value).strip()):
        return float(value)
    total, parts = 0.0, re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(value))
    for n, unit in parts:
        total += float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


# ---- Kubernetes ----------------------------------------------------------------------------------
REQUIRED_KINDS = {"StatefulSet": "apps/v1", "Service": "v1", "Secret": "v1"}
OPTIONAL_KINDS = {"PodDisruptionBudget": "policy/v1"}


def k8s_load():
    docs = []
    kdir = os.path.join(TOP, "deploy", "k8s")
    for name in sorted(os.listdir(kdir)):
        if name.endswith(".yaml"):
            for d in yaml.safe_load_all(read(os.path.join("deploy", "k8s", name))):
                if d is not None:
                    docs.append((name, d))
    return docs


def k8s_common(docs, facts, errs):
    kinds = {}
    for name, d in docs:
        kind = d.get("kind")
        want = {**REQUIRED_KINDS, **OPTIONAL_KINDS}.get(kind)
        if want is None:
            errs.append("%s: unexpected kind %r" % (name, kind))
        elif d.get("apiVersion") != want:
            errs.append("%s: %s needs apiVersion %s" % (name, kind, want))
        if not (d.get("metadata") or {}).get("name"):
            errs.append("%s: %s without metadata.name" % (name, kind))
        kinds.setdefault(kind, []).append(d)
    for kind in REQUIRED_KINDS:
        if kind not in kinds:
            errs.append("deploy/k8s: no %s" % kind)
    if len(kinds.get("StatefulSet", [])) != 1:
        errs.append("deploy/k8s: expected exactly one StatefulSet")
    return kinds


def container_of(sts):
    cs = sts["spec"]["template"]["spec"].get("containers") or []
    return cs[0] if cs else {}


def port_resolves(port, container):
    ports = container.get("ports") or []
    if isinstance(port, int):
        return any(p.get("containerPort") == port for p in ports)
    return any(p.get("name") == port for p in ports)


def sts_probes(sts, facts, errs):
    c, pod = container_of(sts), sts["spec"]["template"]["spec"]
    want = {"livenessProbe": LIVE, "readinessProbe": READY, "startupProbe": None}
    for probe, path in want.items():
        get = (c.get(probe) or {}).get("httpGet")
        if not get:
            errs.append("statefulset: %s must be an httpGet probe" % probe)
            continue
        if path is not None and get.get("path") != path:
            errs.append("statefulset: %s path %r, expected %s" % (probe, get.get("path"), path))
        check_probe_path("statefulset %s" % probe, get.get("path"), facts, errs)
        if not port_resolves(get.get("port"), c):
            errs.append("statefulset: %s port %r is no container port" % (probe, get.get("port")))
    ann = sts["spec"]["template"]["metadata"].get("annotations") or {}
    if ann.get("prometheus.io/scrape") != "true":
        errs.append('statefulset: pod annotation prometheus.io/scrape must be "true"')
    if ann.get("prometheus.io/path") != METRICS:
        errs.append("statefulset: prometheus.io/path must be %s" % METRICS)
    check_probe_path("prometheus.io/path", ann.get("prometheus.io/path"), facts, errs,
                     open_route=False)
    scrape_port = str(ann.get("prometheus.io/port", ""))
    if not scrape_port.isdigit() or not port_resolves(int(scrape_port), c):
        errs.append("statefulset: prometheus.io/port %r is no container port" % scrape_port)
    drain = int(flag_values(c.get("args") or []).get("drain-timeout", facts["drain"]))
    pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command") or []
    wait = int(pre[1]) if len(pre) == 2 and pre[0] == "sleep" else 0
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= drain + wait:
        errs.append("statefulset: terminationGracePeriodSeconds %s must exceed preStop %s s + "
                    "drain %s s" % (grace, wait, drain))


def sts_security(sts, errs):
    c, pod = container_of(sts), sts["spec"]["template"]["spec"]
    psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
    merged = {**psc, **csc}
    want = {"runAsNonRoot": True, "runAsUser": UID, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False}
    for key, value in want.items():
        if merged.get(key) != value:
            errs.append("statefulset: securityContext.%s must be %r" % (key, value))
    if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
        errs.append("statefulset: container capabilities must drop ALL")
    if (merged.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        errs.append("statefulset: seccompProfile.type must be RuntimeDefault")
    if pod.get("enableServiceLinks") is not False:
        errs.append("statefulset: enableServiceLinks must be false (HYPERBN_*_PORT variables)")
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in (res.get(part) or {}):
                errs.append("statefulset: resources.%s.%s missing" % (part, what))


def sts_storage_and_key(sts, kinds, facts, errs):
    c, spec = container_of(sts), sts["spec"]
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []}
    volumes = {v["name"]: v for v in spec["template"]["spec"].get("volumes") or []}
    for path, name in mounts.items():
        if name not in claims and name not in volumes:
            errs.append("statefulset: mount %s names no volume or claim (%s)" % (path, name))
    if mounts.get(DATA_DIR) not in claims:
        errs.append("statefulset: %s must be a volumeClaimTemplates claim" % DATA_DIR)
    args = flag_values(c.get("args") or [])
    check_flags("statefulset args", c.get("args") or [], facts, errs)
    if args.get("data-dir") != DATA_DIR:
        errs.append("statefulset: args must give --data-dir %s" % DATA_DIR)
    env = {e["name"]: e for e in c.get("env") or []}
    for name in env:
        if name.startswith("HYPERBN_") and name not in facts["env"]:
            errs.append("statefulset: unknown variable %s" % name)
    key_file = (env.get("HYPERBN_API_KEY_FILE") or {}).get("value", "")
    secrets = {s["metadata"]["name"]: s for s in kinds.get("Secret", [])}
    mount_dir, _, key_name = key_file.rpartition("/")
    vol = volumes.get(mounts.get(mount_dir, ""), {}).get("secret")
    if not vol:
        errs.append("statefulset: HYPERBN_API_KEY_FILE must lie in a mounted Secret volume")
        return
    items = {i["path"]: i["key"] for i in vol.get("items") or []}
    key = items.get(key_name, key_name)
    secret = secrets.get(vol.get("secretName"))
    if secret is None:
        errs.append("statefulset: Secret %s is not defined" % vol.get("secretName"))
    elif key not in (secret.get("stringData") or {}) and key not in (secret.get("data") or {}):
        errs.append("statefulset: Secret %s has no key %s" % (vol.get("secretName"), key))


def k8s_services(sts, kinds, errs):
    labels = sts["spec"]["template"]["metadata"].get("labels") or {}
    sel = sts["spec"]["selector"].get("matchLabels") or {}
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        errs.append("statefulset: selector does not match the pod template labels")
    services = {s["metadata"]["name"]: s for s in kinds.get("Service", [])}
    head = services.get(sts["spec"].get("serviceName"))
    if head is None or head["spec"].get("clusterIP") != "None":
        errs.append("statefulset: serviceName must name a headless Service (clusterIP: None)")
    if not any(s["spec"].get("clusterIP") != "None" for s in services.values()):
        errs.append("deploy/k8s: no regular (ClusterIP) Service")
    c = container_of(sts)
    for name, s in services.items():
        ssel = s["spec"].get("selector") or {}
        if not ssel or any(labels.get(k) != v for k, v in ssel.items()):
            errs.append("service %s: selector does not match the pods" % name)
        for p in s["spec"].get("ports") or []:
            if not port_resolves(p.get("targetPort", p.get("port")), c):
                errs.append("service %s: targetPort %r is no container port"
                            % (name, p.get("targetPort")))
    for pdb in kinds.get("PodDisruptionBudget", []):
        psel = (pdb["spec"].get("selector") or {}).get("matchLabels") or {}
        if not psel or any(labels.get(k) != v for k, v in psel.items()):
            errs.append("poddisruptionbudget: selector does not match the pods")


def check_k8s(docs, facts):
    errs = []
    kinds = k8s_common(docs, facts, errs)
    if len(kinds.get("StatefulSet", [])) == 1:
        sts = kinds["StatefulSet"][0]
        try:
            sts_probes(sts, facts, errs)
            sts_security(sts, errs)
            sts_storage_and_key(sts, kinds, facts, errs)
            k8s_services(sts, kinds, errs)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as e:
            errs.append("statefulset: missing or malformed field (%s: %s)" % (type(e).__name__, e))
    return errs


# ---- docker-compose.yml --------------------------------------------------------------------------
def check_compose(doc, facts):
    errs = []
    services = doc.get("services") or {}
    if len(services) != 1:
        return ["compose: expected one service, got %d" % len(services)]
    name, svc = next(iter(services.items()))
    for key in ("image", "build", "read_only", "cap_drop", "security_opt", "mem_limit",
                "pids_limit", "healthcheck", "ports", "volumes", "secrets", "stop_grace_period"):
        if key not in svc:
            errs.append("compose %s: missing %s" % (name, key))
    if svc.get("read_only") is not True:
        errs.append("compose: read_only must be true")
    if "ALL" not in (svc.get("cap_drop") or []):
        errs.append("compose: cap_drop must contain ALL")
    if not any(str(o).startswith("no-new-privileges") for o in svc.get("security_opt") or []):
        errs.append("compose: security_opt must set no-new-privileges")
    for p in svc.get("ports") or []:
        if not str(p).startswith("127.0.0.1:") or not str(p).endswith(":8080"):
            errs.append("compose: port %r must be published as 127.0.0.1:HOSTPORT:8080" % p)
    vols = {}
    for v in svc.get("volumes") or []:
        parts = str(v).split(":")
        if len(parts) >= 2:
            vols[parts[1]] = parts[0]
    if vols.get(DATA_DIR) not in (doc.get("volumes") or {}):
        errs.append("compose: %s must be a named volume declared under volumes:" % DATA_DIR)
    declared = doc.get("secrets") or {}
    used = [s if isinstance(s, str) else s.get("source") for s in svc.get("secrets") or []]
    for s in used:
        if "file" not in (declared.get(s) or {}):
            errs.append("compose: secret %s must be declared with a file" % s)
    env = svc.get("environment") or {}
    if env.get("HYPERBN_API_KEY_FILE") not in ["/run/secrets/%s" % s for s in used]:
        errs.append("compose: HYPERBN_API_KEY_FILE must point at /run/secrets/<secret>")
    for var in env:
        if var not in facts["env"]:
            errs.append("compose: unknown variable %s" % var)
    errs += compose_health(svc, env, facts)
    return errs


def compose_health(svc, env, facts):
    errs = []
    test = (svc.get("healthcheck") or {}).get("test") or []
    m = re.match(r"http://127\.0\.0\.1:(\d+)(/\S*)$", str(test[-1]) if test else "")
    if not test or test[0] != "CMD" or "--healthcheck" not in test or not m:
        errs.append("compose: healthcheck.test must be [CMD, hyperbnd, --healthcheck, URL]")
    else:
        check_probe_path("compose healthcheck", m.group(2), facts, errs)
        if m.group(1) != str(env.get("HYPERBN_PORT", 8080)):
            errs.append("compose: healthcheck port %s is not the daemon's port" % m.group(1))
    drain = int(env.get("HYPERBN_DRAIN_TIMEOUT", facts["drain"]))
    if seconds(svc.get("stop_grace_period", "10s")) <= drain:
        errs.append("compose: stop_grace_period must exceed the drain timeout (%d s)" % drain)
    return errs


# ---- Dockerfile ----------------------------------------------------------------------------------
def dockerfile_stages(text):
    """[(from_line, [(INSTRUCTION, args), ...]), ...] with continuation lines joined."""
    stages, logical = [], re.sub(r"\\\n", " ", re.sub(r"(?m)^\s*#.*\n", "", text))
    for line in logical.splitlines():
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        ins, args = parts[0].upper(), parts[1] if len(parts) > 1 else ""
        if ins == "FROM":
            stages.append((args, []))
        elif stages:
            stages[-1][1].append((ins, args))
    return stages


def check_dockerfile(text, facts):
    errs, stages = [], dockerfile_stages(text)
    if len(stages) < 2:
        return ["Dockerfile: expected a build stage and a runtime stage"]
    final = stages[-1][1]
    last = {ins: args for ins, args in final}
    args = {a.split("=")[0]: a.split("=", 1)[1] for ins, a in final if ins == "ARG" and "=" in a}
    user = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)),
                  last.get("USER", "root"))
    if user.split(":")[0] in ("root", "0") or not user.split(":")[0].isdigit():
        errs.append("Dockerfile: the runtime stage needs a numeric non-root USER (%s)" % user)
    for ins in ("ENTRYPOINT", "CMD", "HEALTHCHECK", "EXPOSE", "VOLUME"):
        if ins not in last:
            errs.append("Dockerfile: runtime stage without %s" % ins)
    try:
        entry, cmd = json.loads(last.get("ENTRYPOINT", "")), json.loads(last.get("CMD", ""))
        check_flags("Dockerfile CMD", cmd, facts, errs)
        if entry != ["/usr/local/bin/hyperbnd"] or flag_values(cmd).get("data-dir") != DATA_DIR:
            errs.append("Dockerfile: ENTRYPOINT hyperbnd, CMD with --data-dir %s expected"
                        % DATA_DIR)
    except ValueError:
        errs.append("Dockerfile: ENTRYPOINT and CMD must be exec-form JSON arrays")
    hc = re.search(r"CMD\s+(\[.*\])\s*$", last.get("HEALTHCHECK", ""))
    url = json.loads(hc.group(1))[-1] if hc else ""
    m = re.match(r"http://127\.0\.0\.1:8080(/\S*)$", url)
    if not m or "--healthcheck" not in json.loads(hc.group(1)):
        errs.append("Dockerfile: HEALTHCHECK CMD [hyperbnd, --healthcheck, "
                    "http://127.0.0.1:8080/...] expected")
    else:
        check_probe_path("Dockerfile HEALTHCHECK", m.group(1), facts, errs)
    if "8080" not in last.get("EXPOSE", "").split():
        errs.append("Dockerfile: EXPOSE 8080 expected")
    if DATA_DIR not in last.get("VOLUME", ""):
        errs.append("Dockerfile: VOLUME %s expected" % DATA_DIR)
    runs = " ".join(a for ins, a in final if ins == "RUN")
    if re.search(r"\b(gcc|g\+\+|clang|build-essential|make|[a-z0-9.+-]+-dev)\b(?![-.\w])", runs):
        errs.append("Dockerfile: the runtime stage installs build tools")
    if "org.opencontainers.image.title" not in " ".join(a for ins, a in final if ins == "LABEL"):
        errs.append("Dockerfile: OCI labels (org.opencontainers.image.*) expected")
    return errs


# ---- systemd -------------------------------------------------------------------------------------
def unit_parse(text):
    """{key: [values]} of the unit's [Service] and [Unit] sections (comments dropped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def check_unit(text, facts):
    errs, u = [], unit_parse(text)
    want = {"DynamicUser": "yes", "StateDirectory": "hyperbn", "ProtectSystem": "strict",
            "PrivateTmp": "yes", "NoNewPrivileges": "yes", "Restart": "on-failure",
            "KillSignal": "SIGTERM", "EnvironmentFile": "-/etc/default/hyperbnd"}
    for k, v in want.items():
        if v not in u.get(k, []):
            errs.append("hyperbnd.service: %s=%s expected" % (k, v))
    for k in ("ProtectHome", "RestrictAddressFamilies"):
        if not u.get(k):
            errs.append("hyperbnd.service: %s missing" % k)
    if "@system-service" not in " ".join(u.get("SystemCallFilter", [])):
        errs.append("hyperbnd.service: SystemCallFilter=@system-service expected")
    start = shlex.split((u.get("ExecStart") or [""])[-1])
    if (not start or start[0] != "/usr/local/bin/hyperbnd"
            or flag_values(start[1:]).get("data-dir") != DATA_DIR):
        errs.append("hyperbnd.service: ExecStart=/usr/local/bin/hyperbnd --data-dir %s expected"
                    % DATA_DIR)
    check_flags("hyperbnd.service ExecStart", start[1:], facts, errs)
    if seconds((u.get("TimeoutStopSec") or ["90s"])[-1]) <= facts["drain"]:
        errs.append("hyperbnd.service: TimeoutStopSec must exceed the drain timeout (%d s)"
                    % facts["drain"])
    return errs


def systemd_verify(text, facts):
    """What `systemd-analyze verify` says about the unit TEXT (ExecStart pointed at the built
    daemon, which it requires to exist), or None when the tool or the daemon is missing."""
    tool = shutil.which("systemd-analyze")
    binary = os.path.join(os.environ.get("HBN_BUILDDIR", os.getcwd()), "server", "hyperbnd")
    if tool is None or not os.access(binary, os.X_OK):
        return None
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "hyperbnd.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("/usr/local/bin/hyperbnd", binary))
        r = subprocess.run([tool, "verify", path], capture_output=True, text=True, timeout=60)
    lines = (r.stdout + r.stderr).strip().splitlines()
    return lines or (["exit status %d" % r.returncode] if r.returncode else [])


def check_env_sample(text, facts):
    errs, seen = [], 0
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^#?([A-Z][A-Z0-9_]*)=", line)
        if m:
            seen += 1
            if m.group(1) not in facts["env"]:
                errs.append("hyperbnd.env:%d: %s is not a hyperbnd variable" % (n, m.group(1)))
        elif line.strip() and not line.startswith("#"):
            errs.append("hyperbnd.env:%d: not a comment nor KEY=value" % n)
    if seen == 0:
        errs.append("hyperbnd.env: no settings")
    return errs


# ---- running ------------------------------------------------------------------------------
def self_test_cases(k8s, compose, dockerfile, unit, env):
    """(name, check, broken input) triples: every one must be reported."""
    def k8s_with(fn):
        docs = copy.deepcopy(k8s)
        sts = next(d for _, d in docs if d.get("kind") == "StatefulSet")
        fn(sts["spec"], container_of(sts))
        return docs

    def compose_with(fn):
        doc = copy.deepcopy(compose)
        fn(next(iter(doc["services"].values())))
        return doc

    def pod(spec):
        return spec["template"]["spec"]

    def drop_secret(spec):
        for v in pod(spec)["volumes"]:
            if "secret" in v:
                v["secret"]["secretName"] = "nope"

    bad_hc = ["CMD", "/usr/local/bin/hyperbnd", "--healthcheck", "http://127.0.0.1:8080/nope"]
    return [
        ("readiness probe on /healthz", check_k8s,
         k8s_with(lambda s, c: c["readinessProbe"]["httpGet"].update(path="/healthz"))),
        ("startup probe on /metrics (needs the key)", check_k8s,
         k8s_with(lambda s, c: c["startupProbe"]["httpGet"].update(path=METRICS))),
        ("container port renamed", check_k8s,
         k8s_with(lambda s, c: c["ports"][0].update(name="web"))),
        ("runAsNonRoot false", check_k8s,
         k8s_with(lambda s, c: c["securityContext"].update(runAsNonRoot=False))),
        ("capabilities not dropped", check_k8s,
         k8s_with(lambda s, c: c["securityContext"].pop("capabilities"))),
        ("grace period below the drain", check_k8s,
         k8s_with(lambda s, c: pod(s).update(terminationGracePeriodSeconds=20))),
        ("scrape path /metrix", check_k8s, k8s_with(
            lambda s, c: s["template"]["metadata"]["annotations"].update(
                {"prometheus.io/path": "/metrix"}))),
        ("data dir not a claim", check_k8s,
         k8s_with(lambda s, c: s.pop("volumeClaimTemplates"))),
        ("misspelt flag", check_k8s, k8s_with(lambda s, c: c["args"].append("--drain-timout=3"))),
        ("key from an undefined Secret", check_k8s, k8s_with(lambda s, c: drop_secret(s))),
        ("compose port on every interface", check_compose,
         compose_with(lambda s: s.update(ports=["8080:8080"]))),
        ("compose root fs writable", check_compose, compose_with(lambda s: s.pop("read_only"))),
        ("compose healthcheck on /nope", check_compose,
         compose_with(lambda s: s["healthcheck"].update(test=bad_hc))),
        ("Dockerfile runs as root", check_dockerfile, re.sub(r"(?m)^USER .*$", "", dockerfile)),
        ("Dockerfile with a compiler at runtime", check_dockerfile,
         dockerfile.replace("libmicrohttpd12 libcjson1", "libmicrohttpd12 libcjson1 gcc")),
        ("unit stop timeout below the drain", check_unit,
         re.sub(r"(?m)^TimeoutStopSec=.*$", "TimeoutStopSec=10", unit)),
        ("unit without the syscall filter", check_unit,
         re.sub(r"(?m)^SystemCallFilter=@system-service$", "", unit)),
        ("env sample with an unknown variable", check_env_sample, env + "#HYPERBN_NOPE=1\n"),
    ]


def main():
    facts = daemon_facts()
    k8s = k8s_load()
    compose = yaml.safe_load(read("deploy/docker-compose.yml"))
    dockerfile = read("deploy/Dockerfile")
    unit, env = read("deploy/hyperbnd.service"), read("deploy/hyperbnd.env")
    passed = failed = 0

    def report(name, errs):
        nonlocal passed, failed
        if errs:
            failed += 1
            print("not ok - %s" % name)
            for e in errs:
                print("    " + e)
        else:
            passed += 1
            print("ok - %s" % name)

    real = (("deploy/k8s", check_k8s, k8s), ("deploy/docker-compose.yml", check_compose, compose),
            ("deploy/Dockerfile", check_dockerfile, dockerfile),
            ("deploy/hyperbnd.service", check_unit, unit),
            ("deploy/hyperbnd.env", check_env_sample, env))
    for name, fn, arg in real:
        report(name, fn(arg, facts))
    verified = systemd_verify(unit, facts)
    if verified is None:
        print("skip - systemd-analyze verify (no systemd-analyze or no built server/hyperbnd)")
    else:
        report("deploy/hyperbnd.service: systemd-analyze verify", verified)
        bad_time = re.sub(r"(?m)^TimeoutStopSec=.*$", "TimeoutStopSec=forty", unit)
        broken = systemd_verify(bad_time, facts)
        report("self-test: systemd-analyze reports a bad time value",
               [] if broken else ["systemd-analyze accepted it"])
    for name, fn, broken in self_test_cases(k8s, compose, dockerfile, unit, env):
        errs = fn(broken, facts)
        report("self-test: %s is reported%s" % (name, " (%s)" % errs[0] if errs else ""),
               [] if errs else ["the checker accepted it"])
    print("check_manifests: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
