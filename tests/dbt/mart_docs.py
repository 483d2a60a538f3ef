"""What the dbt docs must say about the marts, checked on a manifest (and on the built tables).

The marts are the models under `models/marts/` and the snapshot; account managers read
their docs, so every one of them and every one of their columns has a description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def mart_nodes(manifest: dict) -> dict[str, dict]:
    """The project's marts and snapshots, by name."""
    return {n["name"]: n for n in manifest["nodes"].values()
            if n["package_name"] == "partnerops"
            and ((n["resource_type"] == "model" and n["fqn"][1] == "marts") or n["resource_type"] == "snapshot")}


def undescribed(manifest: dict, built_columns: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """`<mart>` without a description and `<mart>.<column>` without one, sorted.

    A column counts when the YAML lists it; with `built_columns` (mart name -> the columns of
    its table or view in the database) every column the mart really has counts too, so a
    column the YAML does not list at all is found as well.
    """
    missing: list[str] = []
    for name, node in mart_nodes(manifest).items():
        if not node["description"].strip():
            missing.append(name)
        described = {col for col, doc in node["columns"].items() if doc["description"].strip()}
        columns = set(node["columns"]) | set((built_columns or {}).get(name, ()))
        missing += [f"{name}.{col}" for col in columns - described]
    return sorted(missing)


def primary_key_tests(manifest: dict) -> dict[str, list[str]]:
    """Every mart's primary-key tests: `unique_combination_of_columns(...)`, a column unique and not null, or a
    primary key the database enforces (an enforced contract's `primary_key` constraint)."""
    found: dict[str, list[str]] = {name: [] for name in mart_nodes(manifest)}
    for node in manifest["nodes"].values():
        if node["name"] in found and node["resource_type"] in ("model", "snapshot") \
                and node["config"].get("contract", {}).get("enforced"):
            for constraint in node.get("constraints", []):
                if constraint["type"] == "primary_key":
                    found[node["name"]].append(f"primary key ({', '.join(constraint['columns'])})")
    by_column: dict[tuple[str, str], set[str]] = {}
    for test in manifest["nodes"].values():
        if test["resource_type"] != "test" or not test.get("test_metadata"):
            continue
        parent = (test.get("attached_node") or "").split(".")[-1]
        if parent not in found:
            continue
        kind = test["test_metadata"]["name"]
        if kind == "unique_combination_of_columns":
            columns = test["test_metadata"]["kwargs"]["combination_of_columns"]
            found[parent].append(f"unique_combination_of_columns({', '.join(columns)})")
        elif kind in ("unique", "not_null") and test.get("column_name"):
            by_column.setdefault((parent, test["column_name"]), set()).add(kind)
    for (parent, column), kinds in sorted(by_column.items()):
        if kinds == {"unique", "not_null"}:
            found[parent].append(f"unique + not_null({column})")
    return found
