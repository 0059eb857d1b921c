"""Evaluation of explanations: plain functions over lists of ``Explanation``s.

- ``faithfulness``: ERASER comprehensiveness / sufficiency, deletion and insertion curves;
- ``sanity``: cascading parameter randomization and class sensitivity (Adebayo et al., 2018);
- ``plausibility``: agreement with the treebank's word-level sentiment labels.
"""
from textdeconv.evaluation.faithfulness import deletion_insertion, eraser
from textdeconv.evaluation.plausibility import plausibility, word_labels
from textdeconv.evaluation.sanity import cascading_randomization, class_sensitivity

__all__ = ["eraser", "deletion_insertion", "cascading_randomization", "class_sensitivity",
           "plausibility", "word_labels"]
