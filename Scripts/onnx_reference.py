#!/usr/bin/env python3
"""ONNX graphs of Loupe's backbones built from the very same safetensors, for ONNX Runtime: the
reference for parity tests and side-by-side benchmarks.

The graphs are written independently of Loupe's Swift code: BatchNorm stays a separate
BatchNormalization node (ONNX Runtime folds it itself), TF "SAME" padding is ONNX's SAME_UPPER.

  onnx_reference.py export MODEL WEIGHTS.safetensors OUT.onnx --height H --width W [--taps a,b]
  onnx_reference.py fixtures --models .cache/models --darknet .cache/darknet/data --out .cache/fixtures/models
  onnx_reference.py random-resnet50 OUT.safetensors     # random weights with torchvision's keys

MODEL: mobilenet_v2, efficientnet_lite0..4, resnet18/34/50/101/152.
"""
import argparse
import hashlib
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file, save_file


class Graph:
    def __init__(self, state):
        self.state = state
        self.nodes, self.inits, self.used = [], {}, set()
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def init(self, key):
        self.used.add(key)
        if key not in self.inits:
            self.inits[key] = numpy_helper.from_array(np.asarray(self.state[key], dtype=np.float32), key)
        return key

    def const(self, value):
        key = self.name("const")
        self.inits[key] = numpy_helper.from_array(np.asarray(value, dtype=np.float32), key)
        return key

    def conv(self, x, prefix, stride=1, pad=None, group=1, same=False):
        w = self.state[prefix + ".weight"]
        inputs = [x, self.init(prefix + ".weight")]
        if prefix + ".bias" in self.state:
            inputs.append(self.init(prefix + ".bias"))
        k = w.shape[2]
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], group=group)
        if same:
            attrs["auto_pad"] = "SAME_UPPER"
        else:
            p = k // 2 if pad is None else pad
            attrs["pads"] = [p, p, p, p]
        y = self.name("conv")
        self.nodes.append(helper.make_node("Conv", inputs, [y], **attrs))
        return y

    def bn(self, x, prefix, eps):
        y = self.name("bn")
        keys = [self.init(f"{prefix}.{s}") for s in ("weight", "bias", "running_mean", "running_var")]
        self.nodes.append(helper.make_node("BatchNormalization", [x] + keys, [y], epsilon=eps))
        return y

    def op(self, kind, inputs, **attrs):
        y = self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [y], **attrs))
        return y

    def relu6(self, x):
        return self.op("Clip", [x, self.const(0.0), self.const(6.0)])

    def head(self, x, fc):
        pooled = self.op("Flatten", [self.op("GlobalAveragePool", [x])])
        return self.op("Gemm", [pooled, self.init(fc + ".weight"), self.init(fc + ".bias")], transB=1)


def mobilenet_v2(g, x, taps):
    out = {}
    x = g.relu6(g.bn(g.conv(x, "features.0.0", stride=2), "features.0.1", 1e-5))
    out["features.0"] = x
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    index, in_c = 1, 32
    for t, c, n, s in settings:
        for i in range(n):
            p, stride, y, j = f"features.{index}.conv", (s if i == 0 else 1), x, 0
            if t != 1:
                y = g.relu6(g.bn(g.conv(y, f"{p}.0.0"), f"{p}.0.1", 1e-5))
                j = 1
            y = g.relu6(g.bn(g.conv(y, f"{p}.{j}.0", stride=stride, group=in_c * t), f"{p}.{j}.1", 1e-5))
            y = g.bn(g.conv(y, f"{p}.{j + 1}"), f"{p}.{j + 2}", 1e-5)
            x = g.op("Add", [x, y]) if stride == 1 and in_c == c else y
            out[f"features.{index}"] = x
            index, in_c = index + 1, c
    x = g.relu6(g.bn(g.conv(x, "features.18.0"), "features.18.1", 1e-5))
    out["features.18"] = x
    return g.head(x, "classifier.1"), out


def efficientnet_lite(g, x, taps):
    out, eps = {}, 1e-3
    x = g.relu6(g.bn(g.conv(x, "_conv_stem", stride=2, same=True), "_bn0", eps))
    out["stem"] = x
    strides, stage, prev, b = [1, 2, 2, 2, 1, 2, 1], -1, -1, 0
    in_c = g.state["_conv_stem.weight"].shape[0]
    while f"_blocks.{b}._project_conv.weight" in g.state:
        p = f"_blocks.{b}"
        out_c = g.state[f"{p}._project_conv.weight"].shape[0]
        hidden = g.state[f"{p}._depthwise_conv.weight"].shape[0]
        stride = 1
        if out_c != prev:
            stage += 1
            stride = strides[min(stage, 6)]
        y = x
        if f"{p}._expand_conv.weight" in g.state:
            y = g.relu6(g.bn(g.conv(y, f"{p}._expand_conv", same=True), f"{p}._bn0", eps))
        y = g.relu6(g.bn(g.conv(y, f"{p}._depthwise_conv", stride=stride, group=hidden, same=True), f"{p}._bn1", eps))
        y = g.bn(g.conv(y, f"{p}._project_conv", same=True), f"{p}._bn2", eps)
        x = g.op("Add", [x, y]) if stride == 1 and in_c == out_c else y
        out[f"blocks.{b}"] = x
        in_c, prev, b = out_c, out_c, b + 1
    x = g.relu6(g.bn(g.conv(x, "_conv_head", same=True), "_bn1", eps))
    out["head"] = x
    return g.head(x, "_fc"), out


RESNET_BLOCKS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3],
                 "resnet101": [3, 4, 23, 3], "resnet152": [3, 8, 36, 3]}


def resnet(g, x, model):
    out = {}
    bottleneck = model not in ("resnet18", "resnet34")
    x = g.op("Relu", [g.bn(g.conv(x, "conv1", stride=2, pad=3), "bn1", 1e-5)])
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    out["stem"] = x
    for l, count in enumerate(RESNET_BLOCKS[model]):
        for b in range(count):
            p, stride = f"layer{l + 1}.{b}", (2 if b == 0 and l > 0 else 1)
            if bottleneck:
                y = g.op("Relu", [g.bn(g.conv(x, f"{p}.conv1"), f"{p}.bn1", 1e-5)])
                y = g.op("Relu", [g.bn(g.conv(y, f"{p}.conv2", stride=stride), f"{p}.bn2", 1e-5)])
                y = g.bn(g.conv(y, f"{p}.conv3"), f"{p}.bn3", 1e-5)
            else:
                y = g.op("Relu", [g.bn(g.conv(x, f"{p}.conv1", stride=stride), f"{p}.bn1", 1e-5)])
                y = g.bn(g.conv(y, f"{p}.conv2"), f"{p}.bn2", 1e-5)
            shortcut = x
            if f"{p}.downsample.0.weight" in g.state:
                shortcut = g.bn(g.conv(x, f"{p}.downsample.0", stride=stride, pad=0), f"{p}.downsample.1", 1e-5)
            x = g.op("Relu", [g.op("Add", [y, shortcut])])
        out[f"layer{l + 1}"] = x
    return g.head(x, "fc"), out


def build(model, state, height, width, taps=()):
    g = Graph(state)
    x = "input"
    if model == "mobilenet_v2":
        logits, maps = mobilenet_v2(g, x, taps)
    elif model.startswith("efficientnet_lite"):
        logits, maps = efficientnet_lite(g, x, taps)
    elif model in RESNET_BLOCKS:
        logits, maps = resnet(g, x, model)
    else:
        sys.exit(f"unknown model {model}")
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", "classes"])]
    for tap in taps:
        g.nodes.append(helper.make_node("Identity", [maps[tap]], [tap]))
        outputs.append(helper.make_tensor_value_info(tap, TensorProto.FLOAT, ["n", f"{tap}_c", f"{tap}_h", f"{tap}_w"]))
    graph = helper.make_graph(g.nodes, model, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, height, width])],
                              outputs, list(g.inits.values()))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    proto.ir_version = 8
    unused = set(state) - g.used
    if unused:
        sys.exit(f"{model}: the graph did not use {sorted(unused)[:5]}")
    onnx.checker.check_model(proto)
    return proto


def random_resnet50(seed=2019):
    """ResNet-50 with torchvision's keys, He-initialised convolutions and random BatchNorm statistics."""
    rng = np.random.default_rng(seed)
    state = {}

    def conv(key, o, i, k):
        state[key + ".weight"] = (rng.standard_normal((o, i, k, k)) * np.sqrt(2.0 / (i * k * k))).astype(np.float32)

    def bn(key, c):
        state[key + ".weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        state[key + ".bias"] = rng.uniform(-0.2, 0.2, c).astype(np.float32)
        state[key + ".running_mean"] = rng.uniform(-0.2, 0.2, c).astype(np.float32)
        state[key + ".running_var"] = rng.uniform(0.5, 1.5, c).astype(np.float32)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    in_c = 64
    for l, count in enumerate(RESNET_BLOCKS["resnet50"]):
        width = 64 << l
        for b in range(count):
            p = f"layer{l + 1}.{b}"
            conv(f"{p}.conv1", width, in_c, 1); bn(f"{p}.bn1", width)
            conv(f"{p}.conv2", width, width, 3); bn(f"{p}.bn2", width)
            conv(f"{p}.conv3", width * 4, width, 1); bn(f"{p}.bn3", width * 4)
            if b == 0:
                conv(f"{p}.downsample.0", width * 4, in_c, 1); bn(f"{p}.downsample.1", width * 4)
            in_c = width * 4
    state["fc.weight"] = (rng.standard_normal((1000, 2048)) * 0.01).astype(np.float32)
    state["fc.bias"] = rng.uniform(-0.1, 0.1, 1000).astype(np.float32)
    return state


def preprocess(path, height, width, model):
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB").resize((width, height), Image.BILINEAR), dtype=np.float32)
    if model.startswith("efficientnet_lite"):
        x = (rgb - 127.0) / 128.0
    else:
        x = (rgb / 255.0 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


FIXTURE_TAPS = {"mobilenet_v2": ["features.3", "features.13", "features.18"],
                "efficientnet_lite0": ["stem", "blocks.5", "head"],
                "resnet50": ["layer1", "layer3", "layer4"]}


def fixtures(models, darknet, out):
    import onnxruntime as ort

    os.makedirs(out, exist_ok=True)
    with open(__file__, "rb") as f:
        stamp_value = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(out, ".stamp")
    if os.path.exists(stamp) and open(stamp).read() == stamp_value:
        return
    random_path = os.path.join(out, "resnet50_random.safetensors")
    save_file(random_resnet50(), random_path)
    sources = {"mobilenet_v2": os.path.join(models, "mobilenet_v2.safetensors"),
               "efficientnet_lite0": os.path.join(models, "efficientnet_lite0.safetensors"),
               "resnet50": random_path}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the plain graph
    for model, weights in sources.items():
        state = load_file(weights)
        for height, width in ((224, 224), (384, 512)):
            proto = build(model, state, height, width, FIXTURE_TAPS[model])
            session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
            x = preprocess(os.path.join(darknet, "dog.jpg"), height, width, model)
            names = ["logits"] + FIXTURE_TAPS[model]
            results = session.run(names, {"input": x})
            tensors = {"input": x}
            tensors.update({n: r for n, r in zip(names, results)})
            save_file(tensors, os.path.join(out, f"{model}_{height}x{width}.safetensors"))
    yolox_fixtures(YOLOX_ONNX, darknet, out)
    with open(stamp, "w") as f:
        f.write(stamp_value)
    print(f"[fixtures] ONNX Runtime reference outputs in {out}", file=sys.stderr)


YOLOX_ONNX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "models", "yolox_nano.onnx")


def letterbox(path, size=416):
    """YOLOX's preprocessing: BGR 0-255, scaled by min(size/h, size/w) to the top-left, pad 114."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        r = min(size / im.height, size / im.width)
        im = im.resize((int(im.width * r), int(im.height * r)), Image.BILINEAR)
    canvas = np.full((size, size, 3), 114, dtype=np.float32)
    a = np.asarray(im, dtype=np.float32)
    canvas[: a.shape[0], : a.shape[1]] = a
    return np.ascontiguousarray(canvas[:, :, ::-1].transpose(2, 0, 1)[None]), r


def yolox_fixtures(onnx_path, darknet, out):
    """ONNX Runtime's raw 1x3549x85 output of the original yolox_nano.onnx on letterboxed samples."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for image in ("dog", "person", "giraffe"):
        x, r = letterbox(os.path.join(darknet, f"{image}.jpg"))
        y = session.run(None, {name: x})[0]
        save_file({"input": x, "output": y.astype(np.float32), "scale": np.array([r], dtype=np.float32)},
                  os.path.join(out, f"yolox_nano_{image}.safetensors"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export")
    p.add_argument("model"); p.add_argument("weights"); p.add_argument("output")
    p.add_argument("--height", type=int, default=224); p.add_argument("--width", type=int, default=224)
    p.add_argument("--taps", default="")
    p = sub.add_parser("fixtures")
    p.add_argument("--models", default=".cache/models"); p.add_argument("--darknet", default=".cache/darknet/data")
    p.add_argument("--out", default=".cache/fixtures/models")
    p = sub.add_parser("random-resnet50")
    p.add_argument("output")
    args = parser.parse_args()
    if args.command == "export":
        taps = [t for t in args.taps.split(",") if t]
        onnx.save(build(args.model, load_file(args.weights), args.height, args.width, taps), args.output)
    elif args.command == "fixtures":
        fixtures(args.models, args.darknet, args.out)
    else:
        save_file(random_resnet50(), args.output)


if __name__ == "__main__":
    main()
