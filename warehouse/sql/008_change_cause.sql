-- Migration 008: a change row says what caused it, an edit of the page or a re-parse.
--
-- `kazinform reparse` re-reads the raw pages the warehouse keeps with today's parsers; what a
-- parser fix changes becomes a new version whose change rows have cause 'reparse'. Every row
-- written before this migration came from a visit of the site: 'edit'. Re-parse rows never count
-- as edits (`articles.edits`), are never flip-flops, and earlier re-parse rows do not make a later
-- edit a flip-flop (warehouse.merge_sql INSERT_CHANGES).

DROP VIEW articles;
DROP VIEW article_changes;
ALTER TABLE article_field_changes ADD COLUMN cause VARCHAR DEFAULT 'edit';
UPDATE article_field_changes SET cause = 'edit' WHERE cause IS NULL;
ALTER TABLE article_field_changes ALTER COLUMN cause SET NOT NULL;

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
       c.changed_at, c.visit_id, c.flipflop, c.value_pair_hash, c.cause
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
    WHERE NOT flipflop AND field <> 'deleted' AND cause = 'edit'
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
