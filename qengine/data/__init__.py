"""Small models and data that ship with qengine (built by benchmarks/models/train_digits.py):
digits_mlp.onnx, digits_cnn.onnx and digits.npz (test split + calibration images, uint8
pixels 0..16; the float input is x / 16)."""
import os

DIR = os.path.dirname(os.path.abspath(__file__))


def path(name):
    """Absolute path of a bundled file, e.g. path("digits_cnn.onnx")."""
    return os.path.join(DIR, name)
