"""Train the two small digits models that ship with qengine (real data, held-out test).

    python benchmarks/models/train_digits.py [--out qengine/data]

scikit-learn's digits (1797 8x8 images, pixel values 0..16) are split 75/25, stratified,
with a fixed seed. Writes:
  digits_mlp.onnx  input [N, 64]       -> logits [N, 10]  (64-64-32-10, ReLU)
  digits_cnn.onnx  input [N, 1, 8, 8]  -> logits [N, 10]  (conv-BN-ReLU x2, max pool,
                                                            flatten, FC-ReLU, FC)
  digits.npz       x_test uint8 [N, 8, 8], y_test uint8 [N], and x_calib / y_calib
                   (128 training images for calibration); the float input is x / 16.
PyTorch and scikit-learn are used here only; the demo needs neither.
"""
import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "qengine", "data")


def load_split(seed=0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.images.astype(np.uint8)
    return train_test_split(x, d.target.astype(np.uint8), test_size=0.25,
                            stratify=d.target, random_state=seed)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32),
                         nn.ReLU(), nn.Linear(32, 10))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(),
                                  nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.features(x))


def train(model, x, y, epochs=80, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return model


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(torch.tensor(x)).argmax(1).numpy() == y).mean())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    x_tr, x_te, y_tr, y_te = load_split()
    f_tr = (x_tr.astype(np.float32) / 16.0)[:, None]
    f_te = (x_te.astype(np.float32) / 16.0)[:, None]
    for name, model, shape in (("mlp", mlp(), (1, 64)), ("cnn", CNN(), (1, 1, 8, 8))):
        xin_tr = f_tr.reshape(len(f_tr), *shape[1:])
        xin_te = f_te.reshape(len(f_te), *shape[1:])
        train(model, xin_tr, y_tr)
        path = os.path.join(args.out, f"digits_{name}.onnx")
        torch.onnx.export(model, torch.zeros(shape), path, input_names=["input"],
                          output_names=["logits"], opset_version=13, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        print(f"digits_{name}: test accuracy {accuracy(model, xin_te, y_te):.4f}, "
              f"{os.path.getsize(path) / 1e3:.1f} kB")
    rng = np.random.default_rng(0)
    calib = rng.choice(len(x_tr), 128, replace=False)
    np.savez_compressed(os.path.join(args.out, "digits.npz"), x_test=x_te, y_test=y_te,
                        x_calib=x_tr[calib], y_calib=y_tr[calib])
    print(f"digits.npz: {len(x_te)} test + 128 calibration images, "
          f"{os.path.getsize(os.path.join(args.out, 'digits.npz')) / 1e3:.1f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
