"""Reports over explanations: CSV/JSON export, the HTML page, the filter dictionary, the lexicon,
and streaming a big file."""
