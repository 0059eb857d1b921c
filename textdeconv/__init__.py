"""textdeconv: Kim-style TextCNN sentence classifiers explained with a deconvolutional network."""

__version__ = "0.1.0"
