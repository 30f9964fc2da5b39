"""Build the standard float ONNX models of the benchmarks (random weights).

    python benchmarks/models/build_zoo.py [--out DIR] [--only mobilenet_v2,resnet18]

Writes mobilenet_v2.onnx (1x3x224x224 -> 1000), resnet18.onnx (1x3x224x224 -> 1000),
ds_cnn.onnx (keyword spotting, 1x1x49x10 -> 12) and mlp.onnx (1x784 -> 10) to DIR
(default: benchmarks/models/cache/, git-ignored; QENGINE_ZOO_DIR overrides). PyTorch is
used here only, to define the networks and export them; qengine never imports it.

The weights are random, but BatchNorm statistics are set by running random batches in
training mode first, so activations have realistic ranges and BN folding is exercised.
MobileNetV2 is exported with a dynamic batch axis and a run-time flatten
(x.reshape(x.shape[0], -1)), which gives the Shape/Gather/Concat chains the converter
has to fold.
"""
import argparse
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def default_dir():
    return os.environ.get("QENGINE_ZOO_DIR", os.path.join(HERE, "cache"))


def conv_bn(cin, cout, k, s, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1, 1)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   conv_bn(hidden, cout, 1, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, classes=1000):
        super().__init__()
        layers, cin = [conv_bn(3, 32, 3, 2)], 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(conv_bn(cin, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.classifier(x.reshape(x.shape[0], -1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class DSCNN(nn.Module):
    """DS-CNN (small) for keyword spotting on 49 frames x 10 MFCCs, 12 classes."""

    def __init__(self, classes=12, ch=64):
        super().__init__()
        layers = [nn.Conv2d(1, ch, (10, 4), (2, 2), (4, 1), bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(ch, ch, 3, 1, 1, groups=ch, bias=False), nn.BatchNorm2d(ch), nn.ReLU(),
                       nn.Conv2d(ch, ch, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d((24, 5))
        self.fc = nn.Linear(ch, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


MODELS = {
    "mobilenet_v2": (MobileNetV2, (1, 3, 224, 224), True),
    "resnet18": (ResNet18, (1, 3, 224, 224), False),
    "ds_cnn": (DSCNN, (1, 1, 49, 10), False),
    "mlp": (mlp, (1, 784), False),
}


def settle_batchnorm(model, shape, batches=4):
    """Give BatchNorm layers running statistics from random inputs."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn((8,) + shape[1:]))
    model.eval()


def build(name, out_dir, seed=0):
    ctor, shape, dynamic = MODELS[name]
    torch.manual_seed(seed)
    model = ctor()
    settle_batchnorm(model, shape)
    path = os.path.join(out_dir, f"{name}.onnx")
    kwargs = {"dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}}} if dynamic else {}
    torch.onnx.export(model, torch.randn(shape), path, input_names=["input"],
                      output_names=["output"], opset_version=13, dynamo=False, **kwargs)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=default_dir())
    p.add_argument("--only", default=",".join(MODELS))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in args.only.split(","):
        path = build(name, args.out)
        print(f"{name:<14} {os.path.getsize(path) / 1e6:7.2f} MB  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
