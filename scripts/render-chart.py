#!/usr/bin/env python3
"""Lint and render a Helm chart offline with the Helm v4 SDK (PyPI helm-python-sdk, pinned in
scripts/python-deps); no helm binary and no network. Used by the chart tests (tests/offline/chart_render.rs, tests/cluster/chart.rs), handy by hand:

  scripts/render-chart.py lint charts/pg-gitops [--values JSON]
      prints the lint report as JSON: {"total_charts_linted", "messages": [{"severity",
      "path", "error"}], "errors"}; severity 1 = info, 2 = warning, 3 = error.
  scripts/render-chart.py render charts/pg-gitops [--values JSON] [--name N] [--namespace NS]
                                  [--kube-version vX.Y.Z]
      prints {"templates": {path: manifest}, "crds": [{"filename", "data"}]} as JSON.
  scripts/render-chart.py package charts/pg-gitops
      packages the chart as `helm package` does (into a temporary directory), loads the
      archive back and prints {"archive": file name, "crds": [{"filename", "data"}],
      "templates": [names]} as JSON: what a user installing the .tgz gets.
  scripts/render-chart.py template charts/pg-gitops [same options]
      prints the CRDs and rendered manifests as one multi-document YAML stream (like
      `helm template --include-crds`).

--values takes a JSON object (or @FILE with JSON or YAML). --kube-version sets
.Capabilities.KubeVersion, as `helm install` does from the cluster it installs into.
Exit status: 0 on success; 1 when the chart fails to render (the template's message on
stderr, e.g. a `fail` in the chart); 2 on a usage error or a missing SDK.
"""

import argparse
import json
import os
import sys
import tempfile

try:
    import helm_python
    from helm_python import _native
except ImportError as error:
    print(
        f"render-chart.py: cannot import helm_python ({error}): the Python package "
        "helm-python-sdk is not installed; run scripts/python-deps (scripts/test does)",
        file=sys.stderr,
    )
    sys.exit(2)


def load_values(arg):
    if arg is None:
        return {}
    if arg.startswith("@"):
        with open(arg[1:], encoding="utf-8") as f:
            text = f.read()
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return helm_python.values_from_yaml(text)
    return json.loads(arg)


def render(chart_path, values, name, namespace, kube_version):
    chart = helm_python.Chart.load(chart_path)
    if kube_version is None:
        templates = chart.render(values, name=name, namespace=namespace, is_install=True)
    else:
        # helm-python-sdk 0.2.2's Chart.render does not expose kube_version, but its native
        # library takes it in the same options object (the version is pinned).
        opts = {"name": name, "namespace": namespace, "is_install": True,
                "kube_version": kube_version}
        templates = json.loads(
            _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(opts))
        )
    crds = [{"filename": c["filename"], "data": c["data"]} for c in chart.crds]
    return {"templates": templates, "crds": crds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["lint", "render", "package", "template"])
    parser.add_argument("chart")
    parser.add_argument("--values", help="JSON object, or @FILE (JSON or YAML)")
    parser.add_argument("--name", default="pg-gitops", help="release name")
    parser.add_argument("--namespace", default="default", help="release namespace")
    parser.add_argument("--kube-version", help="e.g. v1.20.2 (default: the SDK's)")
    args = parser.parse_args()
    values = load_values(args.values)

    if args.command == "lint":
        report = helm_python.lint(args.chart, values, namespace=args.namespace)
        json.dump(report, sys.stdout, indent=1)
        print()
        return 0
    if args.command == "package":
        with tempfile.TemporaryDirectory(prefix="render-chart-") as tmp:
            archive = helm_python.package(args.chart, destination=tmp)
            with open(archive, "rb") as f:
                chart = helm_python.Chart.load_archive(f.read())
        out = {
            "archive": os.path.basename(archive),
            "crds": [{"filename": c["filename"], "data": c["data"]} for c in chart.crds],
            "templates": sorted(t["name"] for t in chart.templates),
        }
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    try:
        out = render(args.chart, values, args.name, args.namespace, args.kube_version)
    except helm_python.HelmError as e:
        print(f"render-chart.py: rendering {args.chart} failed: {e}", file=sys.stderr)
        return 1
    if args.command == "render":
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    for crd in out["crds"]:
        print(f"---\n# Source: {crd['filename']}\n{crd['data'].rstrip()}")
    for path in sorted(out["templates"]):
        text = out["templates"][path].strip()
        if text and not path.endswith("NOTES.txt"):
            print(f"---\n# Source: {path}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
