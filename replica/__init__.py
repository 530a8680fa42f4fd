"""A replica of the Kazinform site, served on 127.0.0.1 for tests and benchmarks.

site = ReplicaSite.generate(n_articles=200, seed=1)
with serve(site) as base_url:
    ...  # crawl base_url; site.edit(...), site.move(...), site.delete(...), site.set_fault(...)
"""

from replica.catalogue import Article
from replica.server import serve
from replica.site import ReplicaSite, RequestRecord

__all__ = ["Article", "ReplicaSite", "RequestRecord", "serve"]
