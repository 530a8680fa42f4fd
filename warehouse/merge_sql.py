"""The statements one batch load runs, in the order `warehouse.load` runs them.

Inputs are Arrow tables registered on the connection: `load_staged_visits`, `load_staged_raw` (see
warehouse.stage), and the tables the load builds as it goes: `load_round` (the classification of one
round, CLASSIFY's result fetched as Arrow), `load_rounds` (every round's, for the events), and the
rows it assembles in Arrow to insert with a plain scan: `load_new_raw` (raw bodies not stored yet),
`load_new_versions` (a round's new version rows) and `load_visit_rows` (the visits with their
outcomes). Nothing is a database table, so a rollback leaves nothing behind. Parameters: $base (the
largest visit_id stored before the batch), $round, $run_id.
"""

from __future__ import annotations

from parsers.record import TRACKED_FIELDS

# Outcomes of a visit of the site that make a version (and an event); a re-parse's version
# (`reparsed`) is made by the same statements but announces nothing (warehouse.outbox).
VERSIONING_OUTCOMES = "('created', 'changed', 'redirected')"
RECORD_STATUSES_SQL = "('parsed', 'reparsed')"

# The first visit_id of the batch is $base + 1, $base being the largest one stored (NEXT_VISIT_BASE);
# visit ids follow input order.
NEXT_VISIT_BASE = "SELECT coalesce(max(visit_id), 0) FROM visits"
# The load package a batch came from, committed with it (warehouse.packages).
RECORD_PACKAGE = "INSERT INTO load_packages VALUES (?, ?, ?, ?, now())"

# One round: each article at most once (the staged `occurrence`), compared with its state as left by
# the previous round. The result is fetched as Arrow and registered as `load_round`: fetching it
# costs less than writing a temp table, and the load reads outcomes, new version keys and events
# from it without another query. The load orders it by pos, in Arrow (~3x quicker than an ORDER BY
# here); left in join order, a revisit of 100,000 articles measured 0.25 s at commit instead of 0.10.
_CLASSIFY = """
WITH {reparse_basis}compared AS (
    SELECT b.pos, b.source, b.article_id, b.status, b.visited_at, b.content_hash, b.record_url,
           s.article_id IS NOT NULL AS known,
           -- the state row's rowid: the updates below find it by one integer, not two strings
           -- (a rowid is stable within the transaction, which is all it is used for)
           s.rowid AS state_row,
           s.current_version, coalesce(s.deleted, false) AS was_deleted,
           s.revisit_interval AS previous_interval, s.field_hashes AS kept_hashes,
           CASE WHEN b.status IN {record_statuses} THEN b.published_at ELSE s.published_at END
               AS published_at,
           coalesce(s.first_seen_at, b.visited_at) AS first_seen_at,
           -- a record without an address keeps the article's known one
           CASE WHEN b.status IN {record_statuses} THEN coalesce(b.record_url, s.url) ELSE s.url END
               AS new_url,
           CASE
{reparse_outcome}               WHEN b.status <> 'parsed' THEN b.status
               WHEN s.article_id IS NULL THEN 'created'
               WHEN coalesce(b.record_url, s.url) IS DISTINCT FROM s.url THEN 'redirected'
               WHEN b.content_hash <> s.current_hash THEN 'changed'
               ELSE 'unchanged'
           END AS outcome
    FROM load_staged_visits AS b
    LEFT JOIN article_state AS s ON s.source = b.source AND s.article_id = b.article_id
    {reparse_join}
    WHERE b.occurrence = $round
), decided AS (
    SELECT *,
           outcome IN {versioning_outcomes} OR outcome = 'reparsed' AS new_version,
           status = 'gone' AND known AND NOT was_deleted AS deleted_now,
           status = 'parsed' AND was_deleted AS restored,
           -- the age in seconds (a difference of epochs costs a third of an interval's epoch)
           revisit_band_seconds(epoch(visited_at) - epoch(coalesce(published_at, first_seen_at)))
               AS band_seconds
    FROM compared
), decided_eventful AS (
    SELECT *, new_version OR deleted_now OR restored AS eventful FROM decided
)
SELECT d.pos, $base + d.pos + 1 AS visit_id,
       -- what only a new version, a deletion or a restoration needs is kept for those rows alone:
       -- most visits of a revisit change nothing, and a narrower working set is quicker to write
       CASE WHEN d.eventful THEN d.source END AS source,
       CASE WHEN d.eventful THEN d.article_id END AS article_id,
       CASE WHEN d.eventful THEN d.new_url END AS new_url,
       CASE WHEN d.new_version THEN d.content_hash END AS content_hash,
       CASE WHEN d.new_version THEN d.published_at END AS published_at,
       d.status, d.visited_at, d.known, d.outcome, d.new_version, d.deleted_now, d.restored, d.eventful,
       d.state_row,
       CASE WHEN d.new_version THEN coalesce(d.current_version, 0) + 1 ELSE d.current_version END AS version,
       -- News Sniffer's rule: a change found resets the interval, a visit without one doubles it,
       -- never beyond the age band; gone articles and articles past the last band are not revisited.
       to_seconds(CASE WHEN d.band_seconds IS NULL OR d.status = 'gone' THEN NULL
                       WHEN d.new_version OR d.restored THEN least(15 * 60, d.band_seconds)
                       ELSE least(coalesce(epoch(d.previous_interval), 15 * 60) * 2, d.band_seconds)
                  END) AS next_interval,
       -- The current version's field hashes travel only with new versions. The new record's are
       -- not read here (the load puts the staged ones beside this result, see NEW_HASHES): only
       -- the url's, for a record without an address, which keeps the known url and so its hash.
       CASE WHEN d.new_version AND d.known THEN d.kept_hashes END AS previous_hashes,
       CASE WHEN d.new_version AND d.known AND d.record_url IS NULL THEN d.kept_hashes[1] END
           AS kept_url_hash
FROM decided_eventful AS d
"""

# A batch with re-parses (flows.reparse) also reads, for each, the raw page its article's current
# version was made from and the field hashes of the re-parsed record (`load_reparse`: pos, source,
# article_id, reparse_hashes, registered by the load). Other batches skip both.
_REPARSE_BASIS = """reparse_basis AS (
    SELECT p.pos, p.reparse_hashes, x.raw_sha256 AS basis_sha
    FROM load_reparse AS p
    LEFT JOIN article_versions AS v
      ON v.source = p.source AND v.article_id = p.article_id AND v.valid_to IS NULL
    LEFT JOIN visits AS x ON x.visit_id = v.visit_id
), """
_REPARSE_JOIN = "LEFT JOIN reparse_basis AS rb ON rb.pos = b.pos"
# A re-parse is applied only to the version made from the page it read (a visit since then may
# have made another: `superseded`), and only when some tracked field differs (`reparsed`): a
# parser fix of a date or a caption alone is what a re-parse is for, so every field counts here,
# where a visit needs a new content hash or address.
_REPARSE_OUTCOME = """WHEN b.status = 'reparsed' THEN CASE
                   WHEN s.article_id IS NULL OR rb.basis_sha IS DISTINCT FROM b.raw_sha256 THEN 'superseded'
                   WHEN b.content_hash <> s.current_hash
                     OR CASE WHEN b.record_url IS NULL
                             THEN list_concat([s.field_hashes[1]], rb.reparse_hashes[2:])
                             ELSE rb.reparse_hashes END IS DISTINCT FROM s.field_hashes THEN 'reparsed'
                   ELSE 'unchanged'
               END
               """


def classify(with_reparses: bool) -> str:
    """CLASSIFY, reading the re-parse basis only for a batch that holds re-parses."""
    return _CLASSIFY.format(
        reparse_basis=_REPARSE_BASIS if with_reparses else "",
        reparse_join=_REPARSE_JOIN if with_reparses else "",
        reparse_outcome=_REPARSE_OUTCOME if with_reparses else "",
        record_statuses=RECORD_STATUSES_SQL,
        versioning_outcomes=VERSIONING_OUTCOMES,
    )


CLASSIFY = classify(with_reparses=False)

# A new version's field hashes: the staged ones (`staged_hashes`, put beside the classification by
# the load), the url's replaced by the known one where the record has no address.
NEW_HASHES = """CASE WHEN r.kept_url_hash IS NULL THEN r.staged_hashes
     ELSE list_concat([r.kept_url_hash], r.staged_hashes[2:]) END"""

CLOSE_CURRENT_VERSIONS = """
UPDATE article_versions AS v SET valid_to = r.visited_at
FROM load_round AS r
WHERE r.new_version AND r.outcome <> 'created'
  AND v.source = r.source AND v.article_id = r.article_id AND v.valid_to IS NULL
"""

# A plain scan of an Arrow table in row-group-sized batches, read by every thread: the rows go in as
# fast as a bare INSERT … SELECT of them would (a join with the staged columns here ran on one thread).
INSERT_VERSIONS = """
INSERT INTO article_versions BY NAME
SELECT *, NULL AS valid_to FROM load_new_versions
"""

_FIELD_NAMES = "[" + ", ".join(f"'{f}'" for f in TRACKED_FIELDS) + "]"

# A field changed when its hash differs from the one kept for the current version: no stored text
# is read. Change rows are narrow (the view article_changes shows the values from the versions);
# `deleted` rows carry their values. A change is a flip-flop when the same article's same field
# already changed between the same two values (in either direction). Each row says its cause: `edit`
# (a visit found it) or `reparse` (today's parser read the same page differently). Re-parse rows
# are never flip-flops and earlier ones make no edit a flip-flop: a parser fix is not page noise.
INSERT_CHANGES = f"""
INSERT INTO article_field_changes BY NAME
WITH compared AS (
    SELECT source, article_id, version, visited_at AS changed_at, visit_id,
           CASE WHEN status = 'reparsed' THEN 'reparse' ELSE 'edit' END AS cause,
           unnest({_FIELD_NAMES}) AS field,
           unnest(previous_hashes) AS old_hash,
           unnest({NEW_HASHES}) AS new_hash
    FROM load_round AS r
    WHERE new_version AND outcome <> 'created'
), field_changes AS (
    SELECT source, article_id, version, changed_at, visit_id, field, cause,
           NULL::VARCHAR AS old_value, NULL::VARCHAR AS new_value,
           change_pair_hash(old_hash, new_hash) AS value_pair_hash
    FROM compared
    WHERE old_hash <> new_hash
), deletion_changes AS (
    SELECT source, article_id, version, visited_at AS changed_at, visit_id, 'deleted' AS field,
           'edit' AS cause,
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
    WHERE c.cause = 'edit'
)
SELECT k.source, k.article_id, k.version, k.field, k.old_value, k.new_value, k.changed_at, k.visit_id,
       k.value_pair_hash, k.cause, k.cause = 'edit' AND e.source IS NOT NULL AS flipflop
FROM candidates AS k
LEFT JOIN earlier AS e
  ON e.source = k.source AND e.article_id = k.article_id AND e.field = k.field
 AND e.value_pair_hash = k.value_pair_hash
"""

INSERT_NEW_STATE = """
INSERT INTO article_state BY NAME
SELECT r.source, r.article_id, r.new_url AS url, false AS deleted, r.version AS current_version,
       r.content_hash AS current_hash, r.published_at, r.visited_at AS first_seen_at,
       r.visited_at AS last_seen_at, r.visited_at AS last_visited_at, r.visited_at AS last_changed_at,
       r.next_interval AS revisit_interval, r.visited_at + r.next_interval AS next_visit_at,
       -- a new article has no known url to keep: its staged hashes are its own
       r.staged_hashes AS field_hashes
FROM load_round AS r
WHERE r.outcome = 'created'
"""

# Every visit of a known article moves when it was seen and when it is due again. Only the columns
# that every visit moves are written here: updating a column rewrites it at the next checkpoint.
# A re-parse is no visit of the site: it leaves these as they were.
UPDATE_VISITED_STATE = """
UPDATE article_state AS s SET
    last_seen_at = CASE WHEN r.status IN ('parsed', 'not_modified') THEN r.visited_at ELSE s.last_seen_at END,
    last_visited_at = r.visited_at,
    revisit_interval = r.next_interval,
    next_visit_at = r.visited_at + r.next_interval
FROM load_round AS r
WHERE r.known AND s.rowid = r.state_row AND r.status <> 'reparsed'
"""

# A new version, a deletion or a restoration (the only visits that move these columns). A
# re-parse's version keeps the article deleted or not, and last_changed_at (a change found on the site).
UPDATE_CHANGED_STATE = f"""
UPDATE article_state AS s SET
    url = r.new_url,
    deleted = CASE WHEN r.status = 'reparsed' THEN s.deleted ELSE r.status = 'gone' END,
    current_version = r.version,
    current_hash = CASE WHEN r.new_version THEN r.content_hash ELSE s.current_hash END,
    published_at = CASE WHEN r.new_version THEN r.published_at ELSE s.published_at END,
    last_changed_at = CASE WHEN r.status = 'reparsed' THEN s.last_changed_at ELSE r.visited_at END,
    field_hashes = CASE WHEN r.new_version THEN {NEW_HASHES} ELSE s.field_hashes END
FROM load_round AS r
WHERE r.known AND r.eventful AND s.rowid = r.state_row
"""

# Raw bodies are stored once: the staged ones (already distinct) minus those an earlier batch stored.
# Only the sha256 values are compared here; the load inserts the new rows from an Arrow table in
# input order (INSERT_RAW_PAGES). Inserting straight from this anti join put the short last row
# group in the middle of the table, and every later batch's checkpoint then rewrote the row groups
# behind it (~0.8 s for 100,000 raw pages).
NEW_RAW_SHAS = """
SELECT s.raw_sha256 FROM load_staged_raw AS s
ANTI JOIN raw_pages AS r ON r.raw_sha256 = s.raw_sha256
"""

INSERT_RAW_PAGES = "INSERT INTO raw_pages BY NAME SELECT * FROM load_new_raw"

# The staged visits with the outcome each was given (an article visit's from its round, any other
# visit's status as is), in input order. A re-parse is written only when it made a version: the
# version's visit names the run and the raw page it was read from; one that changed nothing leaves
# no trace (its visit id is skipped).
INSERT_VISITS = """
INSERT INTO visits BY NAME
SELECT $base + pos + 1 AS visit_id, $run_id AS run_id, source, article_id, url, path, visited_at, outcome,
       error, raw_sha256, bytes, http_status, etag, last_modified, content_type, requested_url
FROM load_visit_rows
WHERE status <> 'reparsed' OR outcome = 'reparsed'
"""

# Events of the articles changed, moved, deleted or restored, with the fields each new version
# changed; only this batch's change rows are read (visit ids above $base). A created article's event
# needs no change rows: the load takes it from the classification (warehouse.load).
# A re-parse's version gives no event (warehouse.outbox).
CHANGE_EVENTS = """
SELECT r.pos, r.outcome, r.deleted_now, r.restored, r.source, r.article_id, r.version, r.new_url AS url,
       coalesce(list(c.field) FILTER (WHERE c.field IS NOT NULL AND c.field <> 'deleted'), []) AS fields
FROM load_rounds AS r
LEFT JOIN (SELECT visit_id, field FROM article_field_changes WHERE visit_id > $base) AS c
  ON c.visit_id = r.visit_id
WHERE r.outcome NOT IN ('created', 'reparsed') AND r.eventful
GROUP BY ALL
"""

# The batch's events as outbox rows (warehouse.outbox), from `load_event_rows` (the event rows the
# load fetched as Arrow, LoadResult.event_rows) beside `load_rounds`. A row per event:
# deleted (kind 1), restored (2), then created / changed / moved (3); its id is visit_id * 10 + kind,
# so the outbox is emitted in input order. The language is read from the version each event names:
# versions this batch made are found by their visit ids (only the row groups past $base are read,
# their zone maps skip the rest); the few events that name an older version (a deletion, a
# restoration without new content, the address a move left) look it up by key, and when there
# are none that scan is skipped (an empty build side). Above $created_each_max `created` events in
# the batch, each source and language gets one `kazinform.articles.created` row instead (count,
# first and last article and visit ids).
INSERT_OUTBOX = f"""
INSERT INTO event_outbox BY NAME
WITH ev AS (
    SELECT e.outcome, e.deleted_now, e.restored, e.source, e.article_id, e.version, e.url,
           list_filter({_FIELD_NAMES}, lambda f: list_contains(coalesce(e.fields, []), f)) AS fields,
           r.visit_id, r.visited_at, r.new_version
    FROM load_event_rows AS e
    JOIN load_rounds AS r ON r.pos = e.pos
), wanted AS (
    SELECT source, article_id, version FROM ev WHERE NOT new_version
    UNION ALL
    SELECT source, article_id, version - 1 FROM ev WHERE outcome = 'redirected'
), older AS (
    SELECT v.source, v.article_id, v.version, v.language, v.url
    FROM article_versions AS v
    SEMI JOIN wanted AS w ON w.source = v.source AND w.article_id = v.article_id AND w.version = v.version
), fresh AS (
    SELECT visit_id, language FROM article_versions WHERE visit_id > $base
), described AS (
    SELECT ev.*, coalesce(f.language, cur.language, '') AS language, prev.url AS old_url
    FROM ev
    LEFT JOIN fresh AS f ON f.visit_id = ev.visit_id
    LEFT JOIN older AS cur
      ON cur.source = ev.source AND cur.article_id = ev.article_id AND cur.version = ev.version
    LEFT JOIN older AS prev
      ON ev.outcome = 'redirected'
     AND prev.source = ev.source AND prev.article_id = ev.article_id AND prev.version = ev.version - 1
), kinds AS (
    SELECT *, 'deleted' AS kind, 1 AS kind_order FROM described WHERE deleted_now
    UNION ALL
    SELECT *, 'restored' AS kind, 2 AS kind_order FROM described WHERE restored
    UNION ALL
    SELECT *, CASE outcome WHEN 'created' THEN 'created' WHEN 'changed' THEN 'changed' ELSE 'moved' END
              AS kind, 3 AS kind_order
    FROM described WHERE outcome IN {VERSIONING_OUTCOMES}
), summarised AS (
    SELECT count(*) FILTER (WHERE kind = 'created') > $created_each_max AS created_as_summary FROM kinds
), related AS (
    SELECT json_array(json_object('prefect.resource.id', 'prefect.flow-run.' || $run_id,
                                  'prefect.resource.role', 'flow-run')) AS related
), each_event AS (
    SELECT k.visit_id * 10 + k.kind_order AS id, 'kazinform.article.' || k.kind AS event,
           json_object('prefect.resource.id', 'kazinform.article.' || k.source || '.' || k.article_id,
                       'kazinform.source', k.source, 'kazinform.language', k.language,
                       'kazinform.article_id', k.article_id) AS resource,
           CASE k.kind
               WHEN 'changed' THEN json_object('fields', k.fields, 'old_version', k.version - 1,
                                               'new_version', k.version, 'url', k.url)
               WHEN 'moved' THEN json_object('old_url', k.old_url, 'new_url', k.url,
                                             'old_version', k.version - 1, 'new_version', k.version,
                                             'fields', k.fields)
               ELSE json_object('version', k.version, 'url', k.url)
           END AS payload,
           k.visited_at AS occurred_at
    FROM kinds AS k, summarised AS s
    WHERE k.kind <> 'created' OR NOT s.created_as_summary
), created_summary AS (
    SELECT min(k.visit_id) * 10 + 9 AS id, 'kazinform.articles.created' AS event,
           json_object('prefect.resource.id', 'kazinform.articles.' || k.source || '.' || k.language,
                       'kazinform.source', k.source, 'kazinform.language', k.language) AS resource,
           json_object('count', count(*),
                       'first_article_id', arg_min(k.article_id, k.visit_id),
                       'last_article_id', arg_max(k.article_id, k.visit_id),
                       'first_visit_id', min(k.visit_id), 'last_visit_id', max(k.visit_id),
                       'run_id', $run_id) AS payload,
           max(k.visited_at) AS occurred_at
    FROM kinds AS k, summarised AS s
    WHERE k.kind = 'created' AND s.created_as_summary
    GROUP BY k.source, k.language
)
SELECT e.id, uuid() AS event_id, e.event, e.resource, r.related, e.payload, e.occurred_at,
       $run_id AS run_id, now() AS written_at
FROM (SELECT * FROM each_event UNION ALL SELECT * FROM created_summary) AS e, related AS r
"""

# The outbox as the emitter reads it (warehouse.outbox), oldest first.
PENDING_OUTBOX = """
SELECT id, event_id, event, resource::VARCHAR, related::VARCHAR, payload::VARCHAR, occurred_at, run_id
FROM event_outbox ORDER BY id LIMIT $limit
"""
COUNT_OUTBOX = "SELECT count(*) FROM event_outbox"
# `outbox_emitted_ids`: an Arrow table of the ids the Prefect API accepted.
DELETE_OUTBOX = "DELETE FROM event_outbox WHERE id IN (SELECT id FROM outbox_emitted_ids)"
