"""Sources: seeds and feeds -> Articles (fetch, parse, ingest, full text, dedup, feed state)."""
