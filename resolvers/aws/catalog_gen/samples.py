"""Verification by sample: corpus records whose change entry yields plausible ARNs.

An entry is ``verified`` when at least one real, error-free record in the corpus
(``../shared/corpus`` beside the repository) resolves to plausible ARNs through it; the first
few such eventIDs are kept as ``samples`` so tests can replay them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from resolvers.aws.catalog import Registry
from resolvers.aws.catalog_arn import plausible
from resolvers.aws.cloudtrail import unwrap

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
PATTERNS = ("*.cloudtrail.jsonl", "*.eventbridge.jsonl")
MAX_SAMPLES = 3


def corpus_files(corpus: Path) -> list[Path]:
    """The CloudTrail and EventBridge files of the corpus, sorted."""
    return sorted(path for pattern in PATTERNS for path in corpus.glob(pattern))


def corpus_digest(corpus: Path) -> str:
    """sha256 over the names and bytes of the corpus files used."""
    digest = hashlib.sha256()
    for path in corpus_files(corpus):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def records(corpus: Path) -> Iterator[Mapping[str, Any]]:
    """Every record of the CloudTrail and EventBridge files, in file and line order."""
    for path in corpus_files(corpus):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def verified(registry: Registry, corpus: Path) -> dict[tuple[str, str, str], list[str]]:
    """Per entry key, the eventIDs of records that resolve to plausible ARNs through it (only
    eventIDs unique in the corpus, so a sample names exactly one record)."""
    found: dict[tuple[str, str, str], list[str]] = {}
    all_records = list(records(corpus))
    seen = Counter(unwrap(record).get("eventID") for record in all_records)
    for record in all_records:
        detail = unwrap(record)
        event_id = detail.get("eventID")
        if detail.get("errorCode") or not isinstance(event_id, str) or seen[event_id] > 1:
            continue
        entry = registry.lookup(
            str(detail.get("eventSource")), str(detail.get("eventName")), detail.get("apiVersion")
        )
        if entry is None or entry.effect != "change":
            continue
        arns = entry.arns(record)
        if arns and all(plausible(arn) for arn in arns):
            key = (entry.event_source, entry.event_name, entry.api_version or "")
            found.setdefault(key, []).append(event_id)
    return {key: sorted(set(ids))[:MAX_SAMPLES] for key, ids in found.items()}
