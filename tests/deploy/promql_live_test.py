#!/usr/bin/env python3
"""Every PromQL expression of the Grafana dashboard and of the alerting rules returns data from a live gridsentinel.

Starts `gridsentinel run` on its embedded broker with the in-process fleet simulator (200 meters, metrics on a free
loopback port) and a real `prometheus` scraping it every second with the rules of deploy/prometheus/rules loaded
(its config is deploy/prometheus/prometheus.yml with the target, the intervals and the rule path replaced). Once
data is there, every expression is queried through Prometheus' HTTP API (/api/v1/query) and must return a
non-empty result; each one is printed as OK or EMPTY (or ERROR if Prometheus rejects it).

- Dashboard expressions (every target's `expr`, rows included) are queried as Grafana would send them, with the
  template variables replaced: `$__rate_interval` by 1m (the scrape interval here is 1 s), `$__interval` by 15s,
  `$__range` by 5m, and each dashboard variable by its "All" value (`.+`) or its current value. The variables'
  own queries `label_values(METRIC, LABEL)` are checked through /api/v1/series.
- Rule expressions are queried with every comparison against a number literal removed (`X > 0.05` -> `X`,
  `A > 50000 and B > 0` -> `A and B`): what remains is the value the rule compares, which must exist whether or not
  the alert fires. The expression as written is queried too, for information only (firing now or not).
- A rate()/deriv()/increase() over a range longer than the test has run still answers once two samples exist, so
  [5m] and [10m] windows are queried as written. An expression is retried until it answers or the deadline passes.
- At the end the rule groups loaded by Prometheus must all be healthy (/api/v1/rules).

Usage: promql_live_test.py GRIDSENTINEL_BINARY SOURCE_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploylib import Checks, Gridsentinel, free_port, stop_process  # noqa: E402

import yaml  # noqa: E402  (python3-yaml)

BINARY, SRC = sys.argv[1], os.path.abspath(sys.argv[2])
DASHBOARD = os.path.join(SRC, "deploy", "grafana", "dashboards", "gridsentinel.json")
RULES = os.path.join(SRC, "deploy", "prometheus", "rules", "gridsentinel.rules.yml")
PROM_CONFIG = os.path.join(SRC, "deploy", "prometheus", "prometheus.yml")
DATA_TIMEOUT_S = 40      # gridsentinel + prometheus up, first scrape queryable (~5 s) and rates available
QUERY_DEADLINE_S = 45    # after data is there: every expression must answer within this
GRAFANA_BUILTINS = {"$__rate_interval": "1m", "${__rate_interval}": "1m", "$__interval": "15s",
                    "${__interval}": "15s", "$__range": "5m", "${__range}": "5m"}

# A comparison against a number literal: the filter part of an alerting expression.
COMPARISON = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")


def strip_comparisons(expr):
    return re.sub(r"\s+", " ", COMPARISON.sub("", expr)).strip()


def dashboard_expressions(dash):
    """(panel title, refId, expression with variables replaced) of every target, and the variable queries."""
    values = {}
    label_queries = []
    for v in dash.get("templating", {}).get("list", []):
        if v["type"] == "datasource":
            continue
        if v.get("includeAll") and v.get("allValue"):
            value = v["allValue"]
        else:
            cur = v.get("current", {}).get("value")
            value = cur[0] if isinstance(cur, list) else cur
        values[v["name"]] = value
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v["type"] == "query" and q:
            label_queries.append((v["name"], q))

    def substitute(expr):
        for k, val in GRAFANA_BUILTINS.items():
            expr = expr.replace(k, val)
        for name in sorted(values, key=len, reverse=True):
            expr = expr.replace("${" + name + "}", values[name])
            expr = re.sub(r"\$" + re.escape(name) + r"\b", values[name], expr)
        assert "$" not in expr, f"unknown template variable left in {expr}"
        return expr

    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t.get("refId", "?"), substitute(t["expr"])))
            walk(p.get("panels", []))

    walk(dash["panels"])
    return out, [(n, substitute(q)) for n, q in label_queries]


def rule_expressions(rules):
    return [(r["alert"], r["expr"].strip()) for g in rules["groups"] for r in g["rules"] if "alert" in r]


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, **params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:  # 400 bad_data: the body says why
            return json.load(e)

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)


def describe(result):
    vals = [r["value"][1] for r in result]
    shown = ", ".join(vals[:3]) + (", ..." if len(vals) > 3 else "")
    nan = sum(v in ("NaN", "+Inf", "-Inf") for v in vals)
    return f"{len(result)} series [{shown}]" + (f" ({nan} NaN/Inf: no events in the window yet)" if nan else "")


def main():
    checks = Checks()
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            checks.fail(f"{tool} on PATH", "install Debian's prometheus package (scripts/install-deps.sh)")
            checks.finish()

    dash_exprs, label_queries = dashboard_expressions(json.load(open(DASHBOARD)))
    rules = yaml.safe_load(open(RULES))
    rule_exprs = rule_expressions(rules)
    print(f"{len(dash_exprs)} dashboard expressions, {len(label_queries)} variable queries, "
          f"{len(rule_exprs)} alerting rules")

    work = tempfile.mkdtemp(prefix="gs-promql-")
    gs_port, prom_port = free_port(), free_port()
    gs_config = f"""
embedded:
  partitions: 2
  bootstrap_file: "@BOOTSTRAP_FILE@"
  simulate_meters: 200
  simulate_interval: 15m
  simulate_speedup: 14400
  simulate_anomaly_rate: 0.5
  print_alerts: false
metrics:
  bind: 127.0.0.1:{gs_port}
log:
  level: warn
"""
    # deploy/prometheus/prometheus.yml, pointed at this gridsentinel, scraping every second, the rules by path.
    prom_cfg = yaml.safe_load(open(PROM_CONFIG))
    prom_cfg["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"})
    prom_cfg["rule_files"] = [RULES]
    jobs = [j for j in prom_cfg["scrape_configs"] if j["job_name"] == "gridsentinel"]
    assert len(jobs) == 1, "deploy/prometheus/prometheus.yml has no job gridsentinel"
    jobs[0]["static_configs"] = [{"targets": [f"127.0.0.1:{gs_port}"]}]
    prom_cfg["scrape_configs"] = jobs
    prom_config_path = os.path.join(work, "prometheus.yml")
    with open(prom_config_path, "w") as f:
        yaml.safe_dump(prom_cfg, f)

    prom_proc = None
    prom_log = open(os.path.join(work, "prometheus.log"), "w")
    t_start = time.time()
    try:
        with Gridsentinel(BINARY, gs_config, work_dir=work) as gs:
            print(f"gridsentinel: embedded broker {gs.bootstrap}, metrics 127.0.0.1:{gs_port}")
            prom_proc = subprocess.Popen(
                ["prometheus", f"--config.file={prom_config_path}", f"--storage.tsdb.path={work}/tsdb",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                stdout=prom_log, stderr=subprocess.STDOUT, start_new_session=True)
            prom = Prometheus(prom_port)

            # Data: the first scrape, then the input rate (rates need two samples).
            deadline = time.time() + DATA_TIMEOUT_S
            ready = False
            while time.time() < deadline:
                if prom_proc.poll() is not None or gs.proc.poll() is not None:
                    break
                try:
                    r = prom.query('sum(rate(gridsentinel_records_consumed_total{job="gridsentinel"}[1m])) > 0')
                    if r.get("status") == "success" and r["data"]["result"]:
                        ready = True
                        break
                except OSError:
                    pass  # not listening yet
                time.sleep(1)
            if not checks.check("Prometheus scrapes gridsentinel and sees records consumed", ready,
                                f"after {time.time() - t_start:.0f} s"):
                print(gs.output())
                prom_log.flush()
                print(open(os.path.join(work, "prometheus.log")).read()[-3000:])
                checks.finish()

            # Every expression, retried until it answers or the deadline passes.
            pending = {}
            for title, ref, expr in dash_exprs:
                pending[f"dashboard  {title} [{ref}]"] = expr
            for name, expr in rule_exprs:
                pending[f"rule       {name} (comparisons removed)"] = strip_comparisons(expr)
            results = {}
            deadline = time.time() + QUERY_DEADLINE_S
            while pending and time.time() < deadline:
                for key in list(pending):
                    r = prom.query(pending[key])
                    if r.get("status") != "success":
                        results[key] = ("ERROR", f"{r.get('errorType')}: {r.get('error')}")
                        del pending[key]
                    elif r["data"]["result"]:
                        results[key] = ("OK", describe(r["data"]["result"]))
                        del pending[key]
                if pending:
                    time.sleep(2)
            for key in pending:
                results[key] = ("EMPTY", "no series")
            exprs_by_key = {f"dashboard  {t} [{ref}]": e for t, ref, e in dash_exprs}
            exprs_by_key.update({f"rule       {n} (comparisons removed)": strip_comparisons(e) for n, e in rule_exprs})
            print()
            for key in sorted(results, key=lambda k: (not k.startswith("dashboard"), k)):
                status, detail = results[key]
                print(f"{status:<6} {key}\n         {exprs_by_key[key]}\n         -> {detail}")
            print()
            for key, (status, detail) in sorted(results.items()):
                checks.check(f"returns data: {key.split(None, 1)[1]}", status == "OK", status if status != "OK"
                             else "")

            # The variables' label_values(METRIC, LABEL) queries.
            for name, q in label_queries:
                m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*", q)
                if not checks.check(f"variable ${name}: label_values query parses", m is not None, q):
                    continue
                r = prom.get("/api/v1/series", **{"match[]": m.group(1)})
                values = sorted({s.get(m.group(2)) for s in r.get("data", []) if s.get(m.group(2))})
                checks.check(f"variable ${name}: {q} has values", bool(values), ", ".join(values) or "none")

            # The rules as written: loaded, evaluated, healthy. Firing or not is information only.
            r = prom.get("/api/v1/rules")
            loaded = [rule for g in r["data"]["groups"] for rule in g["rules"]]
            names = {rule["name"] for rule in loaded}
            checks.check("Prometheus loaded every alerting rule of deploy/prometheus/rules",
                         {n for n, _ in rule_exprs} <= names, f"{sorted(names)}")
            unhealthy = [(rule["name"], rule.get("lastError")) for rule in loaded if rule.get("health") != "ok"]
            checks.check("every rule evaluates without error (health ok)", not unhealthy, str(unhealthy or ""))
            for name, expr in rule_exprs:
                q = prom.query(expr)
                n = len(q["data"]["result"]) if q.get("status") == "success" else "error"
                state = next((rule.get("state") for rule in loaded if rule["name"] == name), "?")
                print(f"info   rule {name} as written: {n} series now, state {state}")

            # Let the simulator run a moment more, then stop: gridsentinel exits 0 on SIGTERM.
            stop_process(prom_proc)
            prom_proc = None
        checks.check("gridsentinel stopped cleanly on SIGTERM (exit 0)", gs.returncode == 0,
                     f"exit {gs.returncode}" + ("" if gs.returncode == 0 else "\n" + gs.output()))
    finally:
        stop_process(prom_proc)
        prom_log.close()
    print(f"elapsed {time.time() - t_start:.0f} s")
    shutil.rmtree(work, ignore_errors=True)
    checks.finish()


if __name__ == "__main__":
    main()
