"""The digest: articles -> a lead and sectioned, attributed items (relevance, sectioning,
selection, summarizer backends). Pure: no database, no network but the optional LLM backend."""
