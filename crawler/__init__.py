"""The HTTP side: fetching with politeness and bounds, feed and listing discovery, WARC export.

It reads source definitions (parsers.source: hosts, feeds, listings, rates) and knows nothing of
parsed records or the warehouse; flows.visits turns what it fetched into visits."""
