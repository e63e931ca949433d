"""Who made a GCP change the asset feed saw: audit entries joined to feed versions at query time.

Cloud Asset Inventory feed messages carry the whole state but no principal; admin-activity
audit entries carry the principal but no state. Both land independently (either may arrive
first, in any batch), so the SCD2 engine never waits for one or rewrites a version when the
other arrives: the join is a view over two append-only, idempotent tables, computed when it is
read (docs/resolution.md). A feed version (``change_source = 'event'``) is attributed to the
audit change on the same asset key (the CAI full resource name, built by
:mod:`resolvers.gcp.audit_names`) whose time is closest to the version's ``valid_from`` within
[-:data:`BEFORE`, +:data:`AFTER`], an entry at or before ``valid_from`` preferred (the API call
comes first; the feed's window starts when the change is applied, long-running operations
included). ``changed_by`` itself is never rewritten; the view adds ``attributed_principal``
(``changed_by`` where the version has one) and ``attributed_event_id``.
"""

from __future__ import annotations

VIEW_NAME = "asset_versions_attributed"
BEFORE_MINUTES = 10
AFTER_MINUTES = 2
FEED_SOURCE = "cloudasset.googleapis.com"

VIEW_SQL = f"""CREATE OR REPLACE VIEW {VIEW_NAME} AS
WITH audit AS (
    SELECT asset_key, event_time, event_id, principal
    FROM asset_changes
    WHERE cloud = 'gcp' AND event_source <> '{FEED_SOURCE}' AND principal IS NOT NULL
), candidates AS (
    SELECT v.asset_key, v.valid_from, a.principal, a.event_id,
           row_number() OVER (
               PARTITION BY v.asset_key, v.valid_from
               ORDER BY CASE WHEN a.event_time <= v.valid_from THEN 0 ELSE 1 END,
                        CASE WHEN a.event_time <= v.valid_from THEN a.event_time END DESC,
                        a.event_time, a.event_id
           ) AS rank
    FROM asset_versions v
    JOIN audit a
      ON a.asset_key = v.asset_key
     AND a.event_time >= v.valid_from - INTERVAL '{BEFORE_MINUTES}' MINUTE
     AND a.event_time <= v.valid_from + INTERVAL '{AFTER_MINUTES}' MINUTE
    WHERE v.cloud = 'gcp' AND v.change_source = 'event'
)
SELECT v.*,
       coalesce(v.changed_by, c.principal) AS attributed_principal,
       c.event_id AS attributed_event_id
FROM asset_versions v
LEFT JOIN candidates c
  ON c.asset_key = v.asset_key AND c.valid_from = v.valid_from AND c.rank = 1
"""
VIEW = (
    "asset versions with the principal of the audit change that explains them (GCP feed "
    "versions get the audit entry's principalEmail)",
    VIEW_SQL,
)
