"""``python -m resolvers.aws.catalog_gen``: (re)generate ``resolvers/aws/catalog.json``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from resolvers.aws.catalog import CATALOG_PATH, from_data
from resolvers.aws.catalog_gen import sources
from resolvers.aws.catalog_gen.build import Builder, Joined
from resolvers.aws.catalog_gen.overrides import OVERRIDES_PATH, apply, load_overrides
from resolvers.aws.catalog_gen.samples import DEFAULT_CORPUS, corpus_digest, verified
from resolvers.aws.catalog_gen.write import document


def generate(corpus: Path | None, overrides_path: Path = OVERRIDES_PATH) -> str:
    """The catalog file's text, from the installed models, the overrides and the corpus."""
    overrides, overrides_sha = load_overrides(overrides_path)
    joined = Builder(overrides).run()
    apply(joined, overrides)
    primary = {src: names[0] for src, names in overrides.get("shared_sources", {}).items()}
    inputs = {**sources.versions(), "overrides_sha256": overrides_sha}
    if corpus is not None:
        inputs["corpus_sha256"] = corpus_digest(corpus)
        _mark_verified(joined, corpus, primary, inputs)
    return document(joined, primary, inputs)


def _mark_verified(joined: Joined, corpus: Path, primary: dict[str, str], inputs: dict) -> None:
    draft = json.loads(document(joined, primary, inputs))
    for key, ids in verified(from_data(draft), corpus).items():
        entry = joined.entries[key]
        entry["samples"] = ids
        entry["prov"] = "verified"


def main(argv: list[str] | None = None) -> int:
    """Write the catalog (or, with --check, exit 1 when the committed one differs)."""
    parser = argparse.ArgumentParser(prog="python -m resolvers.aws.catalog_gen")
    parser.add_argument("--out", type=Path, default=CATALOG_PATH)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--no-corpus", action="store_true", help="skip sample verification")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    if not args.no_corpus and not args.corpus.is_dir():
        parser.error(f"corpus not found at {args.corpus} (use --corpus DIR or --no-corpus)")
    text = generate(None if args.no_corpus else args.corpus)
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print("catalog is up to date" if same else f"{args.out} differs from a fresh generation")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    header = json.loads(text.split("\n", 1)[0].rstrip(",") + "}")["header"]
    print(f"wrote {args.out}: {json.dumps(header['counts'], sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
