"""One module per news source, each declaring `SOURCE`; parsers.registry imports them all."""
