"""The statements one batch load runs, in the order `warehouse.load` runs them.

Inputs are Arrow tables registered on the connection (`load_staged_visits`, `load_staged_versions`,
`load_staged_raw`); working sets are temp tables (`load_batch_visits`, `load_round`, `load_outcomes`)
created inside the batch transaction, so a rollback leaves nothing behind.
"""

from __future__ import annotations

from parsers.record import TRACKED_FIELDS

# Statuses whose visit says something about the article itself (and so are merged in order).
ARTICLE_STATUSES = "('parsed', 'not_modified', 'gone')"
VERSIONING_OUTCOMES = "('created', 'changed', 'redirected')"

STAGE_BATCH = f"""
CREATE OR REPLACE TEMP TABLE load_batch_visits AS
SELECT (SELECT coalesce(max(visit_id), 0) FROM visits) + s.pos + 1 AS visit_id,
       s.*,
       -- the n-th visit of the same article in this batch is merged in round n, after the earlier ones
       CASE WHEN s.article_id IS NOT NULL AND s.status IN {ARTICLE_STATUSES}
            THEN row_number() OVER (
                PARTITION BY s.source, s.article_id, s.status IN {ARTICLE_STATUSES} ORDER BY s.pos)
       END AS occurrence
FROM load_staged_visits AS s
"""

ROUND_COUNT = "SELECT coalesce(max(occurrence), 0) FROM load_batch_visits"

CREATE_OUTCOMES = """
CREATE OR REPLACE TEMP TABLE load_outcomes (
    pos BIGINT, visit_id BIGINT, source VARCHAR, article_id VARCHAR, outcome VARCHAR,
    version INTEGER, url VARCHAR, deleted_now BOOLEAN, restored BOOLEAN
)
"""

# One round: each article at most once, compared with its state as left by the previous round.
CLASSIFY_ROUND = f"""
CREATE OR REPLACE TEMP TABLE load_round AS
WITH compared AS (
    SELECT b.pos, b.visit_id, b.source, b.article_id, b.status, b.visited_at, b.content_hash,
           s.article_id IS NOT NULL AS known,
           s.current_version, coalesce(s.deleted, false) AS was_deleted,
           s.revisit_interval AS previous_interval, s.field_hashes AS previous_hashes,
           CASE WHEN b.status = 'parsed' THEN b.published_at ELSE s.published_at END AS published_at,
           coalesce(s.first_seen_at, b.visited_at) AS first_seen_at,
           -- a record without an address keeps the article's known one
           CASE WHEN b.status = 'parsed' THEN coalesce(b.record_url, s.url) ELSE s.url END AS new_url,
           CASE
               WHEN b.status <> 'parsed' THEN b.status
               WHEN s.article_id IS NULL THEN 'created'
               WHEN coalesce(b.record_url, s.url) IS DISTINCT FROM s.url THEN 'redirected'
               WHEN b.content_hash <> s.current_hash THEN 'changed'
               ELSE 'unchanged'
           END AS outcome
    FROM load_batch_visits AS b
    LEFT JOIN article_state AS s ON s.source = b.source AND s.article_id = b.article_id
    WHERE b.occurrence = $round
), decided AS (
    SELECT *,
           outcome IN {VERSIONING_OUTCOMES} AS new_version,
           CASE WHEN outcome IN {VERSIONING_OUTCOMES} THEN coalesce(current_version, 0) + 1
                ELSE current_version END AS version,
           status = 'gone' AND known AND NOT was_deleted AS deleted_now,
           status = 'parsed' AND was_deleted AS restored,
           revisit_band_seconds(epoch(visited_at - coalesce(published_at, first_seen_at))) AS band_seconds
    FROM compared
)
SELECT *,
       -- News Sniffer's rule: a change found resets the interval, a visit without one doubles it,
       -- never beyond the age band; gone articles and articles past the last band are not revisited.
       to_seconds(CASE WHEN band_seconds IS NULL OR status = 'gone' THEN NULL
                       WHEN new_version OR restored THEN least(15 * 60, band_seconds)
                       ELSE least(coalesce(epoch(previous_interval), 15 * 60) * 2, band_seconds)
                  END) AS next_interval
FROM decided
"""

CLOSE_CURRENT_VERSIONS = """
UPDATE article_versions AS v SET valid_to = r.visited_at
FROM load_round AS r
WHERE r.new_version AND r.outcome <> 'created'
  AND v.source = r.source AND v.article_id = r.article_id AND v.valid_to IS NULL
"""

INSERT_VERSIONS = """
INSERT INTO article_versions BY NAME
SELECT r.source, r.article_id, r.version, r.new_url AS url, n.language, n.title, n.lead, n.body,
       n.blocks, r.published_at, n.published_text, n.updated_at, n.authors, n.tags, n.category,
       n.image_url, n.image_caption, n.image_credit, r.content_hash, n.parser,
       r.visited_at AS valid_from, NULL AS valid_to, r.visit_id
FROM load_round AS r
JOIN load_staged_versions AS n USING (pos)
WHERE r.new_version
"""

_LIST_FIELDS = {"authors", "tags"}
_TIME_FIELDS = {"published_at", "updated_at"}
# Columns of the new version that the light stage (load_round) holds rather than the heavy one.
_FROM_ROUND = {"url": "r.new_url", "published_at": "r.published_at"}


def _as_text(field: str, expression: str) -> str:
    """The text a change row shows (macros of migration 004): lists as JSON, times ISO-8601 UTC."""
    if field in _LIST_FIELDS:
        return f"change_list_text({expression})"
    if field in _TIME_FIELDS:
        return f"change_time_text({expression})"
    return f"change_text({expression})"


def _new_field_hashes() -> str:
    hashes = (f"field_value_hash({_as_text(f, _FROM_ROUND.get(f, 'n.' + f))})" for f in TRACKED_FIELDS)
    return "[\n        " + ",\n        ".join(hashes) + "\n    ]"


_FIELD_NAMES = "[" + ", ".join(f"'{f}'" for f in TRACKED_FIELDS) + "]"

# The new versions' field hashes, in TRACKED_FIELDS order: what article_state keeps, and what the
# next change is compared with. Only the round's new versions are hashed.
HASH_NEW_VERSIONS = f"""
CREATE OR REPLACE TEMP TABLE load_round_hashes AS
SELECT r.pos, {_new_field_hashes()} AS new_hashes
FROM load_round AS r
JOIN load_staged_versions AS n USING (pos)
WHERE r.new_version
"""

# A field changed when its hash differs from the one kept for the current version: no stored text
# is read. Change rows are narrow (the view article_changes shows the values from the versions);
# `deleted` rows carry their values. A change is a flip-flop when the same article's same field
# already changed between the same two values (in either direction).
INSERT_CHANGES = f"""
INSERT INTO article_field_changes BY NAME
WITH compared AS (
    SELECT r.source, r.article_id, r.version, r.visited_at AS changed_at, r.visit_id,
           unnest({_FIELD_NAMES}) AS field,
           unnest(r.previous_hashes) AS old_hash,
           unnest(h.new_hashes) AS new_hash
    FROM load_round AS r
    JOIN load_round_hashes AS h USING (pos)
    WHERE r.outcome <> 'created'
), field_changes AS (
    SELECT source, article_id, version, changed_at, visit_id, field,
           NULL::VARCHAR AS old_value, NULL::VARCHAR AS new_value,
           change_pair_hash(old_hash, new_hash) AS value_pair_hash
    FROM compared
    WHERE old_hash <> new_hash
), deletion_changes AS (
    SELECT source, article_id, version, visited_at AS changed_at, visit_id, 'deleted' AS field,
           CASE WHEN deleted_now THEN 'false' ELSE 'true' END AS old_value,
           CASE WHEN deleted_now THEN 'true' ELSE 'false' END AS new_value,
           change_pair_hash(field_value_hash('false'), field_value_hash('true')) AS value_pair_hash
    FROM load_round
    WHERE deleted_now OR restored
), candidates AS (
    SELECT * FROM field_changes UNION ALL BY NAME SELECT * FROM deletion_changes
), earlier AS (
    SELECT DISTINCT c.source, c.article_id, c.field, c.value_pair_hash
    FROM article_field_changes AS c
    SEMI JOIN candidates AS k
      ON k.source = c.source AND k.article_id = c.article_id AND k.field = c.field
)
SELECT k.source, k.article_id, k.version, k.field, k.old_value, k.new_value, k.changed_at, k.visit_id,
       k.value_pair_hash, e.source IS NOT NULL AS flipflop
FROM candidates AS k
LEFT JOIN earlier AS e
  ON e.source = k.source AND e.article_id = k.article_id AND e.field = k.field
 AND e.value_pair_hash = k.value_pair_hash
"""

ROUND_HAS_CHANGES = """
SELECT count(*) > 0 FROM load_round
WHERE (new_version AND outcome <> 'created') OR deleted_now OR restored
"""

INSERT_NEW_STATE = """
INSERT INTO article_state BY NAME
SELECT r.source, r.article_id, r.new_url AS url, false AS deleted, r.version AS current_version,
       r.content_hash AS current_hash, r.published_at, r.visited_at AS first_seen_at,
       r.visited_at AS last_seen_at, r.visited_at AS last_visited_at, r.visited_at AS last_changed_at,
       r.next_interval AS revisit_interval, r.visited_at + r.next_interval AS next_visit_at,
       h.new_hashes AS field_hashes
FROM load_round AS r
JOIN load_round_hashes AS h USING (pos)
WHERE r.outcome = 'created'
"""

UPDATE_KNOWN_STATE = """
UPDATE article_state AS s SET
    url = r.new_url,
    deleted = CASE WHEN r.status = 'gone' THEN true WHEN r.status = 'parsed' THEN false ELSE s.deleted END,
    current_version = r.version,
    current_hash = CASE WHEN r.new_version THEN r.content_hash ELSE s.current_hash END,
    published_at = CASE WHEN r.new_version THEN r.published_at ELSE s.published_at END,
    last_seen_at = CASE WHEN r.status IN ('parsed', 'not_modified') THEN r.visited_at ELSE s.last_seen_at END,
    last_visited_at = r.visited_at,
    last_changed_at = CASE WHEN r.new_version OR r.deleted_now OR r.restored
                           THEN r.visited_at ELSE s.last_changed_at END,
    revisit_interval = r.next_interval,
    next_visit_at = r.visited_at + r.next_interval
FROM load_round AS r
WHERE r.known AND s.source = r.source AND s.article_id = r.article_id
"""

# Only new versions move the kept hashes; rewriting a list column for every visited article is costly.
UPDATE_KNOWN_HASHES = """
UPDATE article_state AS s SET field_hashes = r.new_hashes
FROM (SELECT * FROM load_round JOIN load_round_hashes USING (pos)) AS r
WHERE r.known AND s.source = r.source AND s.article_id = r.article_id
"""

RECORD_ROUND_OUTCOMES = """
INSERT INTO load_outcomes
SELECT pos, visit_id, source, article_id, outcome, version, new_url, deleted_now, restored
FROM load_round
"""

# Raw bodies are stored once: the staged ones (already distinct) minus those an earlier batch stored.
INSERT_RAW_PAGES = """
INSERT INTO raw_pages BY NAME
SELECT s.* FROM load_staged_raw AS s
ANTI JOIN raw_pages AS r ON r.raw_sha256 = s.raw_sha256
"""

INSERT_VISITS = """
INSERT INTO visits BY NAME
SELECT b.visit_id, $run_id AS run_id, b.source, b.article_id, b.url, b.path, b.visited_at,
       coalesce(o.outcome, b.status) AS outcome, b.error, b.raw_sha256, b.bytes,
       b.http_status, b.etag, b.last_modified, b.content_type, b.requested_url
FROM load_batch_visits AS b
LEFT JOIN load_outcomes AS o USING (pos)
ORDER BY b.pos
"""

BATCH_RESULTS = """
SELECT b.pos, b.visit_id, coalesce(o.outcome, b.status) AS outcome
FROM load_batch_visits AS b
LEFT JOIN load_outcomes AS o USING (pos)
ORDER BY b.pos
"""

# Article events in input order; the fields each new version changed, in record order.
BATCH_EVENTS = """
SELECT o.pos, o.outcome, o.deleted_now, o.restored, o.source, o.article_id, o.version, o.url,
       coalesce(list(c.field) FILTER (WHERE c.field IS NOT NULL AND c.field <> 'deleted'), []) AS fields
FROM load_outcomes AS o
LEFT JOIN article_field_changes AS c ON c.visit_id = o.visit_id
WHERE o.outcome IN ('created', 'changed', 'redirected') OR o.deleted_now OR o.restored
GROUP BY ALL
ORDER BY o.pos
"""

DROP_WORK_TABLES = (
    "DROP TABLE IF EXISTS load_batch_visits",
    "DROP TABLE IF EXISTS load_round",
    "DROP TABLE IF EXISTS load_round_hashes",
    "DROP TABLE IF EXISTS load_outcomes",
)
