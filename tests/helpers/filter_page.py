"""The filter page's test data: a filter dictionary and analysis whose every text is hostile, and
the page's data element, parsed."""
import json
import re

import numpy as np
import pandas as pd

from textdeconv.reports.filters import FilterDictionary

NASTY = "<script>alert('x')</script> & \"q\""


def hostile_dictionary():
    """Two filters whose every text is hostile, and their analysis (a class named ``<i>``, a
    negative word that tries to close the data element)."""
    fd = FilterDictionary(
        ngrams=pd.DataFrame([(2, 0, 1, NASTY, 1.5, 7, 2)],
                            columns=["width", "filter", "rank", "ngram", "activation", "sentence_id", "sentences"]),
        words=pd.DataFrame([(2, 0, k, "embedding", 1, f"<b>{k}", 0.5) for k in range(2)] +
                           [(2, 1, k, "embedding", 1, "w", 0.1) for k in range(2)],
                           columns=["width", "filter", "position", "channel", "rank", "word", "cosine"]),
        summary=pd.DataFrame({"width": [2, 2], "filter": [0, 1], "fires": [0.5, 0.0], "mean_activation": [1.0, 0.0],
                              "bias": [0.1, -0.2]}))
    analysis = pd.DataFrame({
        "width": [2, 2], "filter": [0, 1], "class_vote": ["<i>", "neg"], "vote": [0.5, -0.1],
        "threshold": [1.25, np.nan], "purity": [0.9, np.nan], "above_threshold_share": [0.2, 0.0],
        "patterns": [[{"size": 3, "slots": [0.5, -0.25], "ngrams": [NASTY]}], []],
        "negative_words": [[{"slot": 0, "words": [{"word": "</script><b>x", "value": -0.5, "kind": "deliberate",
                                                   "blocked": 4}]}], []]})
    return fd, analysis


def page_json(page: str) -> dict:
    """The data element of a filter page, parsed."""
    (text,) = re.findall(r'<script type="application/json" id="filter-data">(.*?)</script>', page, re.S)
    return json.loads(text)
