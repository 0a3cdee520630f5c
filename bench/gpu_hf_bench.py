"""Hugging Face transformers on the clip bench/gpu_model.cpp times, for a same-run comparison.

Loads Qwen2VLForConditionalGeneration from the checkpoint gpu_model_bench generated (the random
2B, default /tmp/vcap_bench_2b) in bf16 with sdpa attention, builds the same synthetic prompt
(15 text tokens, the video pads of a (2*S, 28, 52) grid, 11 more tokens; random normal pixel
values) and times greedy generation of exactly N new tokens (eos disabled, no repetition
penalty, as gpu_model_bench; the checkpoint's generation_config.json says 1.05), after a warm-up on
a one-frame-pair clip. Prints a markdown line with seconds and clips/s.

usage: python3 bench/gpu_hf_bench.py [--model DIR] [--clip-seconds S] [--new-tokens N]
"""
import argparse
import inspect
import os
import time

import torch

# The checkpoint is a local folder and the machine has no network: never ask the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def synthetic(config, seconds, device):
    grid_t, grid_h, grid_w = max(1, round(seconds * 2)), 28, 52
    merge = config.vision_config.spatial_merge_size
    pads = grid_t * grid_h * grid_w // (merge * merge)
    ids = [872] * 14 + [config.vision_start_token_id] + [config.video_token_id] * pads
    ids += [151653] + [872] * 10
    features = 3 * 2 * 14 * 14
    gen = torch.Generator(device="cpu").manual_seed(1)
    pixels = torch.randn(grid_t * grid_h * grid_w, features, generator=gen)
    return (torch.tensor([ids], device=device),
            pixels.to(device=device, dtype=torch.bfloat16),
            torch.tensor([[grid_t, grid_h, grid_w]], device=device))


def mm_kwargs(model, ids):
    """transformers 5.x lays out the M-RoPE positions from `mm_token_type_ids` (what the processor returns
    beside input_ids: 0 text, 1 image pad, 2 video pad) and wants them with a video grid; 4.x has no such
    argument."""
    inner = getattr(model, "model", None)
    for fn in (model.forward, getattr(inner, "get_rope_index", None)):
        try:
            if fn is not None and "mm_token_type_ids" in inspect.signature(fn).parameters:
                return {"mm_token_type_ids": (ids == model.config.video_token_id).long() * 2}
        except (TypeError, ValueError):
            pass
    return {}


def generate(model, ids, pixels, grid, new_tokens):
    mm = mm_kwargs(model, ids)  # the synthetic prompt has video pads only, no image pads
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **mm,
                             pixel_values_videos=pixels, video_grid_thw=grid, do_sample=False,
                             top_k=None, top_p=None, temperature=None, eos_token_id=None,
                             repetition_penalty=1.0,  # as gpu_model_bench's SamplingOptions
                             min_new_tokens=new_tokens, max_new_tokens=new_tokens)
    torch.cuda.synchronize()
    return time.perf_counter() - start, out.shape[1] - ids.shape[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="/tmp/vcap_bench_2b")
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--new-tokens", type=int, default=200)
    args = parser.parse_args()
    from transformers import Qwen2VLForConditionalGeneration
    import transformers

    start = time.perf_counter()
    model = Qwen2VLForConditionalGeneration.from_pretrained(
        args.model, dtype=torch.bfloat16, attn_implementation="sdpa").to("cuda").eval()
    print(f"# transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name()}: loaded {args.model} in "
          f"{time.perf_counter() - start:.1f} s")
    generate(model, *synthetic(model.config, 1.0, "cuda"), 2)  # warm-up
    ids, pixels, grid = synthetic(model.config, args.clip_seconds, "cuda")
    seconds, produced = generate(model, ids, pixels, grid, args.new_tokens)
    print(f"| transformers bf16 sdpa, batch 1 | {ids.shape[1]} prompt tokens | {produced} new "
          f"tokens | {seconds:.2f} s | {1 / seconds:.3f} clips/s |")


if __name__ == "__main__":
    main()
