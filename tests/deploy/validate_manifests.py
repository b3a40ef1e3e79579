#!/usr/bin/python3
"""Checks Kubernetes manifests (a `kubectl kustomize` output on stdin or in FILE) against the API
schema: the models of Debian's python3-kubernetes, generated from the Kubernetes OpenAPI spec
(client 22 = API 1.22). Every field must be one the API knows, with the type it declares, and
every required field present (the models' own client-side validation). Kinds without a model
(CRDs such as cert-manager's) are listed as not checked; any error exits 1 with one line per
problem: DOCUMENT KIND/NAME: PATH: what is wrong."""

import sys

import yaml
import kubernetes.client as models
from kubernetes.client import Configuration

STRICT = Configuration()
STRICT.client_side_validation = True


def model_name(api_version, kind):
    version = api_version.split("/")[-1]
    return version[0].upper() + version[1:] + kind


def check(value, type_name, path, errors):
    """Appends an error for each field of `value` that does not fit `type_name` (a model or one of
    the generator's type strings: str, int, bool, float, object, datetime, list[T], dict(str, T))."""
    if value is None:
        return
    if type_name.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check(item, type_name[5:-1], f"{path}[{i}]", errors)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        inner = type_name[len("dict(str, "):-1]
        for k, v in value.items():
            check(v, inner, f"{path}.{k}", errors)
        return
    simple = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "date": str}
    if type_name in simple:
        ok = isinstance(value, simple[type_name]) and not (type_name in ("int", "float") and isinstance(value, bool))
        if not ok:
            errors.append(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
        return
    if type_name == "object":  # IntOrString, Quantity, RawExtension
        return
    model = getattr(models, type_name, None)
    if model is None:
        errors.append(f"{path}: the schema names an unknown type {type_name}")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected a {type_name} mapping, got {type(value).__name__}")
        return
    by_json = {json: attr for attr, json in model.attribute_map.items()}
    for key in value:
        if key not in by_json:
            errors.append(f"{path}: unknown field {key!r} ({type_name} has {', '.join(sorted(by_json))})")
    for key, attr in by_json.items():
        if key in value:
            check(value[key], model.openapi_types[attr], f"{path}.{key}", errors)
    # Required fields: the generated setters refuse None for them.
    try:
        model(local_vars_configuration=STRICT, **{by_json[k]: v for k, v in value.items() if k in by_json})
    except ValueError as e:
        errors.append(f"{path}: {e}")


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    errors, checked, unchecked = [], [], []
    for i, doc in enumerate(yaml.safe_load_all(text)):
        if doc is None:
            continue
        kind, api_version = doc.get("kind", "?"), doc.get("apiVersion", "?")
        name = (doc.get("metadata") or {}).get("name", "?")
        label = f"document {i} {kind}/{name}"
        group = api_version.split("/")[0] if "/" in api_version else ""
        builtin = group == "" or "." not in group or group.endswith(".k8s.io")  # not a CRD's group
        model = getattr(models, model_name(api_version, kind), None) if builtin else None
        if model is None:
            if not isinstance(doc.get("metadata"), dict) or not name:
                errors.append(f"{label}: no metadata.name")
            unchecked.append(f"{api_version} {kind}/{name}")
            continue
        problems = []
        check(doc, model.__name__, "", problems)
        errors += [f"{label}:{p}" for p in problems]
        checked.append(f"{kind}/{name}")
    print(f"schema-checked ({len(checked)}): {' '.join(checked)}")
    if unchecked:
        print(f"no schema here, not checked ({len(unchecked)}): {'; '.join(unchecked)}")
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
