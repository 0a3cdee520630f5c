// Run fingerprint: the settings that decide what a caption is. Stored in every journal header;
// a resumed run (and the merge) compares it with the journals on disk so that results made
// with different settings are never mixed silently.
//
// In the fingerprint: the model identity (from CaptionerFactory: resolved model folder and
// hashes of its config, generation config and weights index), question, fps, height, width,
// max_new_tokens, precision, resize mode (area cap or exact size) and autorotate.
// Not in it (they may differ between runs and between ranks without changing a caption's
// meaning): bs, threads, device(s), --max-memory, --fit, --decode-timeout, --root, prefetch.
#ifndef VCAP_PIPELINE_FINGERPRINT_H_
#define VCAP_PIPELINE_FINGERPRINT_H_

#include <string>

#include "pipeline/caption_options.h"

namespace vcap::pipeline {

// Canonical JSON (keys sorted, no spaces) of the fingerprint of `options` with `model_identity`.
std::string run_fingerprint(const CaptionOptions& options, const std::string& model_identity);

// Empty when equal; otherwise one line naming the fields that differ, with both values
// ("question: 'a' (journal) vs 'b' (now); fps: 4 vs 2").
std::string fingerprint_difference(const std::string& journal_json, const std::string& now_json);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_FINGERPRINT_H_
