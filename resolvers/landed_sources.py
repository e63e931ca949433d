"""Which sources each raw_events commit landed, read from the commits' own metadata.

A stream sensor asks for a drain run for every consumer that lags behind raw_events. One
stream may carry records for several consumers (a JetStream stream relays CloudTrail and GCP
records alike), and a consumer lags by *versions*: without this, every landing made every
consumer of the stream lag, and each idle one got a drain run (a Dagster run process of about
400 MB) that read the new versions to find nothing of its own.

The writer writes the sources of the records a raw_events commit lands into the commit's
metadata (``LANDED_SOURCES_KEY``). A commit that changes no rows (compaction, vacuum, a schema
change) holds nothing for anyone; a commit whose sources are not known (written by something
else, or before the writer said) may hold anything. The answers are kept: a version's commit
never changes, so each one is read once per process.
"""

from __future__ import annotations

from collections.abc import Collection

from deltalake import DeltaTable

from resolvers.lake.writer import LANDED_SOURCES_KEY

# commit operations that add no row to a table (delta-rs's names)
NO_ROWS = frozenset(
    {
        "CREATE TABLE",
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "ADD COLUMN",
        "SET TBLPROPERTIES",
        "ADD CONSTRAINT",
        "DROP CONSTRAINTS",
        "UPDATE FIELD METADATA",
        "UPDATE TABLE METADATA",
    }
)
# versions read at a time at most; a longer span is taken to hold anything (a first drain after
# a long stop reads it anyway)
MAX_INSPECTED = 500
# commits remembered at most (the older half is forgotten beyond it)
MAX_KNOWN = 4 * MAX_INSPECTED


def sources_of(commit: dict) -> frozenset[str] | None:
    """The sources whose records one commit (its commitInfo) landed; None when not known."""
    if commit.get("operation") in NO_ROWS:
        return frozenset()
    text = commit.get(LANDED_SOURCES_KEY)
    if commit.get("operation") != "WRITE" or not isinstance(text, str):
        return None
    return frozenset(source for source in text.split(",") if source)


class LandedSources:
    """The sources landed by raw_events' commits, for one lake, remembered as they are read."""

    def __init__(self) -> None:
        self._known: dict[int, frozenset[str] | None] = {}

    def may_hold(self, table: DeltaTable, sources: Collection[str], start: int, end: int) -> bool:
        """Whether raw_events versions ``start``..``end`` may hold records of ``sources``.

        ``table`` is raw_events at version ``end`` or later.
        """
        if end < start:
            return False
        if end - start + 1 > MAX_INSPECTED:
            return True
        missing = [v for v in range(start, end + 1) if v not in self._known]
        if missing:
            self._read(table, min(missing))
        wanted = frozenset(sources)
        for version in range(start, end + 1):
            landed = self._known.get(version)
            if landed is None or landed & wanted:
                return True
        return False

    def _read(self, table: DeltaTable, first: int) -> None:
        """Read the commits from version ``first`` to the table's version."""
        latest = table.version()
        if latest < first:
            return
        for commit in table.history(latest - first + 1):
            self._known[commit["version"]] = sources_of(commit)
        if len(self._known) > MAX_KNOWN:
            for version in sorted(self._known)[: len(self._known) // 2]:
                del self._known[version]
