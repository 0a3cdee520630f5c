"""Runs Hugging Face transformers' Qwen2VLForConditionalGeneration on the golden cases.

The golden data (../shared/golden) comes from an independent float32 re-implementation. This
script confirms it with the real library: for every case it computes, in float32, the vision
features, the last prefill logits and the greedy generation with the case's settings, and
compares them with the golden arrays. It is meant for the GPU machine (PyTorch + transformers,
no vcap build needed); see bench/gpu_check.sh. CPU works too, slowly.

usage: python3 scripts/hf_reference_check.py --golden DIR --out DIR [--device cuda]
  DIR is a copy of golden/ with models/ (json + tensors.sha256 + presets.json) and cases/.
Writes OUT/hf_reference.json and prints one line per case.
"""
import argparse
import inspect
import json
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_weights  # noqa: E402

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def pixel_values_from_frames(frames_tchw):
    """spec 7.2-7.4: rescale, normalise (slow-processor arithmetic), patch flatten order."""
    x = (frames_tchw.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - MEAN[None, :, None, None]) / STD[None, :, None, None]
    t, c, h, w = x.shape
    if t % 2:
        x = np.concatenate([x, x[-1:]], axis=0)
        t += 1
    gt, gh, gw = t // 2, h // 14, w // 14
    x = x.reshape(gt, 2, c, gh // 2, 2, 14, gw // 2, 2, 14)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(x.reshape(gt * gh * gw, c * 2 * 14 * 14)), (gt, gh, gw)


def vision_module(model):
    inner = getattr(model, "model", None)
    return getattr(inner, "visual", None) or getattr(model, "visual")


def merged_features(output, rows, hidden):
    """The patch-merger output, whatever container this transformers version returns."""
    candidates = [output] if torch.is_tensor(output) else []
    for key in ("pooler_output", "last_hidden_state"):
        if hasattr(output, key):
            candidates.append(getattr(output, key))
    if isinstance(output, (tuple, list)):
        candidates.extend(o for o in output if torch.is_tensor(o))
    for c in candidates:
        if c is not None and tuple(c.shape) == (rows, hidden):
            return c
    raise RuntimeError(f"no [{rows}, {hidden}] tensor in the vision output {type(output)}")


def wants_mm_token_type_ids(model):
    """Whether this transformers takes `mm_token_type_ids` (5.x: it lays out the M-RoPE positions from
    them and refuses a video grid without them; 4.x has no such argument and must not be given it)."""
    inner = getattr(model, "model", None)
    for fn in (model.forward, getattr(model, "get_rope_index", None),
               getattr(inner, "get_rope_index", None), getattr(inner, "forward", None)):
        try:
            if fn is not None and "mm_token_type_ids" in inspect.signature(fn).parameters:
                return True
        except (TypeError, ValueError):
            pass
    return False


def mm_token_type_ids(model, ids):
    """What the Qwen2-VL processor returns beside input_ids: same shape, 0 for text (vision start/end
    included), 1 for an image pad token, 2 for a video pad token."""
    types = torch.zeros_like(ids)
    for token_id, modality in ((getattr(model.config, "image_token_id", None), 1),
                               (getattr(model.config, "video_token_id", None), 2)):
        if token_id is not None:
            types[ids == token_id] = modality
    return types


def load_case(case_dir):
    def npy(name):
        path = os.path.join(case_dir, name)
        return np.load(path) if os.path.exists(path) else None

    case = {name[:-4]: npy(name) for name in os.listdir(case_dir) if name.endswith(".npy")}
    case["args"] = json.load(open(os.path.join(case_dir, "args.json")))
    case["generated_ids"] = json.load(open(os.path.join(case_dir, "generated_ids.json")))
    return case


def run_case(model, case, device):
    hidden = model.config.get_text_config().hidden_size if hasattr(
        model.config, "get_text_config") else model.config.hidden_size
    ids = torch.tensor(case["input_ids"], dtype=torch.long, device=device)[None]
    grid = torch.tensor(case["grid_thw"], dtype=torch.long, device=device)
    report = {}
    pixels = case.get("pixel_values")
    if pixels is None and case.get("frames_resized_u8") is not None:
        pixels, _ = pixel_values_from_frames(case["frames_resized_u8"])
    golden_features = torch.tensor(case["vision_features"], device=device)
    mm = {}
    if pixels is not None and wants_mm_token_type_ids(model):
        mm["mm_token_type_ids"] = mm_token_type_ids(model, ids)
    with torch.no_grad():
        if pixels is not None:
            report["mm_token_type_ids"] = bool(mm)
            pv = torch.tensor(pixels, device=device)
            out = vision_module(model)(pv, grid_thw=grid)
            features = merged_features(out, pv.shape[0] // 4, hidden)
            report["vision_max_abs"] = float((features - golden_features).abs().max())
            logits = model(input_ids=ids, pixel_values_videos=pv, video_grid_thw=grid, **mm).logits
        else:
            embeds = model.get_input_embeddings()(ids)
            mask = ids[0] == model.config.video_token_id
            embeds[0, mask] = golden_features.to(embeds.dtype)
            positions = torch.tensor(case["position_ids"], device=device)[:, None, :]
            logits = model(inputs_embeds=embeds, position_ids=positions,
                           attention_mask=torch.ones_like(ids)).logits
        last = logits[0, -1].float().cpu().numpy()
        report["logits_max_abs"] = float(np.abs(last - case["prefill_last_logits"]).max())
        if pixels is not None:
            args = case["args"]
            generated = model.generate(
                input_ids=ids, pixel_values_videos=pv, video_grid_thw=grid, **mm,
                attention_mask=torch.ones_like(ids), do_sample=False, top_k=None, top_p=None,
                temperature=None, repetition_penalty=args["repetition_penalty"],
                eos_token_id=args["eos_token_id"], max_new_tokens=args["max_new_tokens"])
            new_ids = generated[0, ids.shape[1]:].tolist()
            golden = case["generated_ids"]
            same = 0
            while same < min(len(new_ids), len(golden)) and new_ids[same] == golden[same]:
                same += 1
            report.update(generated_identical=new_ids == golden, identical_prefix=same,
                          golden_steps=len(golden))
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--golden", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    import transformers
    from transformers import Qwen2VLForConditionalGeneration

    cases = json.load(open(os.path.join(args.golden, "cases.json")))
    models, results = {}, {"transformers": transformers.__version__, "torch": torch.__version__,
                           "device": args.device, "cases": {}}
    if args.device.startswith("cuda"):
        results["gpu"] = torch.cuda.get_device_name()
    for name, info in sorted(cases.items()):
        preset = os.path.basename(info["model"])
        if preset not in models:
            model_dir = golden_weights.make_model(os.path.join(args.golden, "models"), preset,
                                                  tempfile.mkdtemp(prefix=f"hf-{preset}-"))
            models[preset] = Qwen2VLForConditionalGeneration.from_pretrained(
                model_dir, dtype=torch.float32, attn_implementation="eager").to(args.device).eval()
        try:
            report = run_case(models[preset], load_case(os.path.join(args.golden, "cases", name)),
                              args.device)
        except Exception as error:  # one broken case must not hide the others
            report = {"error": f"{type(error).__name__}: {error}"}
        results["cases"][name] = report
        print(name, json.dumps(report), flush=True)
        # After every case: a run stopped by its time limit keeps the cases it finished.
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "hf_reference.json"), "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
