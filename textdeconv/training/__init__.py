"""Training: the trainer, its optimizer, tf.distribute, cross-validation and run directories."""
