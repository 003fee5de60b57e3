"""The curated catalog: tags, content items, the cached catalog and the service metadata."""
