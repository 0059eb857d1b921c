"""Data: the treebank, its download, your own files, the tokenizer and vocabulary, batching.

Pure Python, never TensorFlow: reading and tokenizing stay light.
"""
