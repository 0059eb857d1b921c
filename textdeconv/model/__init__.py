"""The model: Kim's TextCNN as a Keras 3 functional model (textcnn.py) and pretrained vectors."""
