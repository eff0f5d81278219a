"""Writes a BERT encoder as an ONNX graph from a Hugging Face directory (config.json +
f32 model.safetensors, as zoek-embed's `export_hf` example writes it), and its int8
dynamic quantization (onnxruntime.quantization.quantize_dynamic).

    python onnx_bert.py HF_DIR OUT_DIR

Writes OUT_DIR/model-fp32.onnx and OUT_DIR/model-int8.onnx. Inputs: input_ids,
attention_mask, position_ids (int64, [batch, seq]); output: last_hidden_state [batch, seq,
hidden]. The graph is the standard post-LN BERT (what multilingual-e5-small is) built from
plain operators, so onnxruntime's optimiser fuses it as it fuses an exporter's graph
(LayerNorm, GELU, attention); no PyTorch is needed.
"""

from __future__ import annotations

import json
import math
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file


class Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attrs) -> str:
        out = f"{kind.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], name=out, **attrs))
        return out


def build(hf_dir: pathlib.Path) -> onnx.ModelProto:
    cfg = json.loads((hf_dir / "config.json").read_text())
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    layers, eps = cfg["num_hidden_layers"], float(cfg.get("layer_norm_eps", 1e-12))
    hd = hidden // heads
    w = load_file(str(hf_dir / "model.safetensors"))
    g = Graph()

    def linear(x: str, prefix: str) -> str:
        # y = x Wᵀ + b, with Wᵀ stored as the initializer MatMul wants (what quantize_dynamic
        # turns into int8 weights).
        wt = g.const(f"{prefix}.weight_t", w[f"{prefix}.weight"].T.astype(np.float32))
        b = g.const(f"{prefix}.bias", w[f"{prefix}.bias"].astype(np.float32))
        return g.op("Add", g.op("MatMul", x, wt), b)

    def layer_norm(x: str, prefix: str) -> str:
        s = g.const(f"{prefix}.weight", w[f"{prefix}.weight"].astype(np.float32))
        b = g.const(f"{prefix}.bias", w[f"{prefix}.bias"].astype(np.float32))
        return g.op("LayerNormalization", x, s, b, axis=-1, epsilon=eps)

    word = g.const("word", w["embeddings.word_embeddings.weight"].astype(np.float32))
    pos = g.const("pos", w["embeddings.position_embeddings.weight"].astype(np.float32))
    typ = g.const("type0", w["embeddings.token_type_embeddings.weight"][0].astype(np.float32))
    x = g.op("Add", g.op("Add", g.op("Gather", word, "input_ids"), g.op("Gather", pos, "position_ids")), typ)
    x = layer_norm(x, "embeddings.LayerNorm")

    # Additive mask [batch, 1, 1, seq]: 0 for tokens, -10000 for padding.
    maskf = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    bias = g.op("Mul", g.op("Sub", g.const("one", np.array(1.0, np.float32)), maskf),
                g.const("neg", np.array(-10000.0, np.float32)))
    bias = g.op("Unsqueeze", bias, g.const("axes12", np.array([1, 2], np.int64)))
    heads_shape = g.const("heads_shape", np.array([0, 0, heads, hd], np.int64))
    merged_shape = g.const("merged_shape", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(hd), np.float32))
    sqrt2 = g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    half = g.const("half", np.array(0.5, np.float32))

    for layer in range(layers):
        p = f"encoder.layer.{layer}"
        split = lambda t: g.op("Reshape", t, heads_shape)  # noqa: E731
        q = g.op("Transpose", split(linear(x, f"{p}.attention.self.query")), perm=[0, 2, 1, 3])
        k = g.op("Transpose", split(linear(x, f"{p}.attention.self.key")), perm=[0, 2, 3, 1])
        v = g.op("Transpose", split(linear(x, f"{p}.attention.self.value")), perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), bias)
        ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        ctx = g.op("Reshape", g.op("Transpose", ctx, perm=[0, 2, 1, 3]), merged_shape)
        x = layer_norm(g.op("Add", linear(ctx, f"{p}.attention.output.dense"), x),
                       f"{p}.attention.output.LayerNorm")
        mid = linear(x, f"{p}.intermediate.dense")
        # Exact (erf) GELU, as BERT's "gelu".
        gelu = g.op("Mul", g.op("Mul", mid, g.op("Add", g.op("Erf", g.op("Div", mid, sqrt2)),
                                                  g.const(f"one_{layer}", np.array(1.0, np.float32)))), half)
        x = layer_norm(g.op("Add", linear(gelu, f"{p}.output.dense"), x), f"{p}.output.LayerNorm")

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    ids = lambda n: helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])  # noqa: E731
    graph = helper.make_graph(
        g.nodes, "bert",
        [ids("input_ids"), ids("attention_mask"), ids("position_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=False)
    return model


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    hf_dir, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "model-fp32.onnx"
    onnx.save(build(hf_dir), str(fp32))
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out / "model-int8.onnx"), weight_type=QuantType.QInt8)
    print(out)


if __name__ == "__main__":
    main()
