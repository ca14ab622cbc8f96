#!/usr/bin/env python3
"""Lists the public items of the `wyrm` crate whose docs have no code example.

Every public item, trait methods included, is meant to carry a runnable example (a
doc-test). Needs a nightly toolchain for rustdoc's JSON output, so CI does not run it:

    cargo +nightly rustdoc --lib -q -- -Z unstable-options --output-format json
    python3 tools/missing_examples.py target/doc/wyrm.json

Prints `file:line  kind path` per item without an example, nothing when all have one.
"""
import json
import sys

KINDS = ("function", "struct", "enum", "trait", "type_alias", "constant", "macro", "static")


def main(path):
    doc = json.load(open(path))
    index = doc["index"]
    seen, missing = set(), []

    def walk(item_id, path, in_trait=False):
        item_id = str(item_id)
        if item_id in seen or item_id not in index:
            return
        seen.add(item_id)
        item = index[item_id]
        if item.get("crate_id") != 0:
            return
        kind = next(iter(item["inner"]))
        name = item.get("name")
        here = path + [name] if name and kind != "impl" else path
        # Trait items have visibility "default": public when their trait is.
        visible = item.get("visibility") == "public" or (
            in_trait and item.get("visibility") == "default"
        )
        if visible and kind in KINDS and "```" not in (item.get("docs") or ""):
            span = item.get("span") or {}
            line = (span.get("begin") or [0])[0]
            missing.append(f"{span.get('filename')}:{line}  {kind} {'::'.join(here)}")
        inner = item["inner"][kind]
        if kind == "module":
            for child in inner["items"]:
                walk(child, here)
        elif kind in ("struct", "enum", "trait", "union"):
            for child in inner.get("impls", []):
                walk(child, here)
            for child in inner.get("items", []):
                walk(child, here, kind == "trait")
        elif kind == "impl" and inner.get("trait") is None:
            for child in inner["items"]:
                walk(child, path)
        elif kind == "use" and inner.get("id") is not None:
            walk(inner["id"], path)

    walk(doc["root"], [])
    for line in sorted(missing):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
