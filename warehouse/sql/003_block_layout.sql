-- Migration 003: article_versions.blocks holds the block layout; the texts live once, in the body.
--
-- A layout entry is {"kind": …} for a block whose text is the body's next paragraph, or carries its
-- own "text" (image captions, empty blocks, and every block of a record whose body does not split
-- back into its block texts). Image entries also carry src and credit. Rows written before this
-- migration carry every text, so they read back the same way; nothing is rewritten.
-- raw_pages.encoding may now also be 'zstd' (pages compressed one by one while staged).

-- Every block of every version, in order, with its text: the layout paired with the body's
-- paragraphs (the n-th entry without a text of its own is the n-th paragraph).
CREATE VIEW article_blocks AS
WITH layouts AS (
    SELECT source, article_id, version,
           from_json(blocks, '[{"kind": "VARCHAR", "text": "VARCHAR", "src": "VARCHAR", "credit": "VARCHAR"}]')
               AS layout,
           string_split(body, e'\n\n') AS paragraphs
    FROM article_versions
), numbered AS (
    SELECT source, article_id, version,
           unnest(list_transform(layout, lambda entry, position: {
               'position': position,
               'kind': entry.kind,
               'text': CASE
                   WHEN entry.kind = 'image' THEN coalesce(entry.text, '')
                   WHEN entry.text IS NOT NULL THEN entry.text
                   ELSE paragraphs[len(list_filter(layout[:position],
                                                   lambda e: e.kind <> 'image' AND e.text IS NULL))]
               END,
               'src': entry.src,
               'credit': entry.credit
           })) AS block
    FROM layouts
)
SELECT source, article_id, version, block.position AS position, block.kind AS kind, block.text AS text,
       block.src AS src, block.credit AS credit
FROM numbered;
