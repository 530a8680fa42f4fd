"""Read-only queries the CLI prints; each takes positional parameters."""

from __future__ import annotations

# What one run did to articles: one row per article visit of the run, in visit order.
# Params: run_id, the most rows to show.
LOADED_IN_RUN = """
SELECT v.outcome, a.article_id, a.title, strftime(a.published_at, '%Y-%m-%d %H:%M UTC') AS published_at,
       a.authors, a.tags, a.versions
FROM visits AS v
JOIN articles AS a USING (source, article_id)
WHERE v.run_id = ?
ORDER BY v.visit_id
LIMIT ?
"""

# Params: run_id.
ARTICLE_VISITS_IN_RUN = """
SELECT count(*) FROM visits AS v JOIN articles AS a USING (source, article_id) WHERE v.run_id = ?
"""
