-- Migration 004: change rows stop copying the texts they compare.
--
-- A change of a record field from version n-1 to version n is fully described by the two versions,
-- which the warehouse keeps anyway. Change rows are therefore stored narrow, in
-- `article_field_changes` (which field, which version, flip-flop flag), and the view
-- `article_changes` (the stable name, same columns as before) shows old and new values read from
-- the versions. The load compares 64-bit hashes of each field's text, kept per article in
-- `article_state.field_hashes`, so it never reads stored bodies to find what changed.
-- Rows written before this migration keep their stored values; `deleted` rows always store theirs.

-- The text a change row shows for a field: lists as JSON, timestamps ISO-8601 UTC, text as is.
CREATE MACRO change_text(value) AS CAST(value AS VARCHAR);
CREATE MACRO change_list_text(value) AS CAST(to_json(value) AS VARCHAR);
CREATE MACRO change_time_text(value) AS strftime(value, '%Y-%m-%dT%H:%M:%SZ');

-- Hash of a field's text; a null value hashes to 0 so "null → value" is a difference like any other.
CREATE MACRO field_value_hash(value_text) AS coalesce(hash(value_text), 0::UBIGINT);
-- An unordered pair of value hashes (flip-flops compare pairs).
CREATE OR REPLACE MACRO change_pair_hash(old_hash, new_hash) AS
    CAST(hash(least(old_hash, new_hash), greatest(old_hash, new_hash)) AS VARCHAR);

DROP VIEW articles;
ALTER TABLE article_changes RENAME TO article_field_changes;
UPDATE article_field_changes
SET value_pair_hash = change_pair_hash(field_value_hash(old_value), field_value_hash(new_value));

-- The tracked fields' hashes of each article's current version, in parsers.record.TRACKED_FIELDS order.
ALTER TABLE article_state ADD COLUMN field_hashes UBIGINT[];
UPDATE article_state AS s SET field_hashes = [
    field_value_hash(change_text(s.url)),
    field_value_hash(change_text(v.language)),
    field_value_hash(change_text(v.title)),
    field_value_hash(change_text(v.lead)),
    field_value_hash(change_text(v.body)),
    field_value_hash(change_time_text(v.published_at)),
    field_value_hash(change_text(v.published_text)),
    field_value_hash(change_time_text(v.updated_at)),
    field_value_hash(change_list_text(v.authors)),
    field_value_hash(change_list_text(v.tags)),
    field_value_hash(change_text(v.category)),
    field_value_hash(change_text(v.image_url)),
    field_value_hash(change_text(v.image_caption)),
    field_value_hash(change_text(v.image_credit))
]
FROM article_versions AS v
WHERE v.source = s.source AND v.article_id = s.article_id AND v.version = s.current_version;

CREATE VIEW article_changes AS
SELECT c.source, c.article_id, c.version, c.field,
       coalesce(c.old_value, CASE c.field
           WHEN 'url' THEN change_text(p.url)
           WHEN 'language' THEN change_text(p.language)
           WHEN 'title' THEN change_text(p.title)
           WHEN 'lead' THEN change_text(p.lead)
           WHEN 'body' THEN change_text(p.body)
           WHEN 'published_at' THEN change_time_text(p.published_at)
           WHEN 'published_text' THEN change_text(p.published_text)
           WHEN 'updated_at' THEN change_time_text(p.updated_at)
           WHEN 'authors' THEN change_list_text(p.authors)
           WHEN 'tags' THEN change_list_text(p.tags)
           WHEN 'category' THEN change_text(p.category)
           WHEN 'image_url' THEN change_text(p.image_url)
           WHEN 'image_caption' THEN change_text(p.image_caption)
           WHEN 'image_credit' THEN change_text(p.image_credit)
       END) AS old_value,
       coalesce(c.new_value, CASE c.field
           WHEN 'url' THEN change_text(n.url)
           WHEN 'language' THEN change_text(n.language)
           WHEN 'title' THEN change_text(n.title)
           WHEN 'lead' THEN change_text(n.lead)
           WHEN 'body' THEN change_text(n.body)
           WHEN 'published_at' THEN change_time_text(n.published_at)
           WHEN 'published_text' THEN change_text(n.published_text)
           WHEN 'updated_at' THEN change_time_text(n.updated_at)
           WHEN 'authors' THEN change_list_text(n.authors)
           WHEN 'tags' THEN change_list_text(n.tags)
           WHEN 'category' THEN change_text(n.category)
           WHEN 'image_url' THEN change_text(n.image_url)
           WHEN 'image_caption' THEN change_text(n.image_caption)
           WHEN 'image_credit' THEN change_text(n.image_credit)
       END) AS new_value,
       c.changed_at, c.visit_id, c.flipflop, c.value_pair_hash
FROM article_field_changes AS c
LEFT JOIN article_versions AS n
  ON c.field <> 'deleted' AND n.source = c.source AND n.article_id = c.article_id AND n.version = c.version
LEFT JOIN article_versions AS p
  ON c.field <> 'deleted' AND p.source = c.source AND p.article_id = c.article_id
 AND p.version = c.version - 1;

CREATE VIEW articles AS
WITH edits AS (
    SELECT source, article_id, count(DISTINCT version) AS edits
    FROM article_field_changes
    WHERE NOT flipflop AND field <> 'deleted'
    GROUP BY ALL
)
SELECT v.source, v.article_id, s.url, v.language, v.title, v.lead, v.body, v.blocks,
       v.published_at, v.published_text, v.updated_at, v.authors, v.tags, v.category,
       v.image_url, v.image_caption, v.image_credit, v.content_hash, v.parser,
       v.version, v.valid_from, v.visit_id,
       s.first_seen_at, s.last_seen_at, s.current_version AS versions, coalesce(e.edits, 0) AS edits,
       s.deleted, s.last_visited_at, s.last_changed_at, s.next_visit_at
FROM article_versions AS v
JOIN article_state AS s USING (source, article_id)
LEFT JOIN edits AS e USING (source, article_id)
WHERE v.valid_to IS NULL;
