#include "model/generator.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "base/stopwatch.h"

namespace vcap::model {
namespace {

using Clock = std::chrono::steady_clock;

int64_t total_tokens(const std::vector<VisionGrid>& grids, int64_t merge_size) {
  int64_t total = 0;
  for (const VisionGrid& g : grids) total += g.num_tokens(merge_size);
  return total;
}

int64_t total_patches(const std::vector<VisionGrid>& grids) {
  int64_t total = 0;
  for (const VisionGrid& g : grids) total += g.num_patches();
  return total;
}

GenerationResult failure(const GenerationRequest& request, Status status) {
  GenerationResult r;
  r.id = request.id;
  r.status = std::move(status);
  r.prompt_tokens = static_cast<int64_t>(request.input_ids.size());
  return r;
}

}  // namespace

struct Generator::Sequence {
  uint64_t id = 0;
  std::vector<TokenId> ids;  // prompt, then every generated token
  int64_t prompt_len = 0;
  int64_t rope_delta = 0;
  KvCache cache;
  TokenSelector selector;
  DistinctIds distinct_ids;  // of ids: what the repetition penalty applies to
  std::vector<TokenId> generated;
  std::vector<TokenId> forced;  // teacher forcing (GenerationRequest::forced_ids)
  bool stopped_on_eos = false;

  Sequence(const SamplingOptions& sampling, int64_t vocab_size)
      : selector(sampling), distinct_ids(vocab_size) {}
};

struct Generator::Scratch {
  int64_t rows = 0;
  TextWorkspace ws;
  tensor::Tensor hidden;           // [rows, hidden]
  tensor::Tensor normed;           // [max_batch, hidden] final-norm rows, the head's input
  tensor::Tensor logits;           // [max_batch, vocab]
  tensor::HostBuffer host_logits;  // [max_batch, vocab], page-locked on a GPU
  std::vector<tensor::ScoreRowRule> rules;
  std::vector<tensor::LargestScore> largest;
};

struct Generator::FeatureSet {
  std::vector<tensor::Tensor> tensors;
  std::vector<std::pair<size_t, int64_t>> where;  // per request: tensor index, first row
};

Generator::Generator(const Qwen2VL& model, GeneratorOptions options)
    : model_(model),
      options_(options),
      inv_freq_(
          rope_inverse_frequencies(model.dims().text.head_dim(), model.dims().text.rope_theta)) {
  options_.max_batch = std::max<int64_t>(1, options_.max_batch);
}

Generator::~Generator() = default;
Generator::Generator(Generator&&) noexcept = default;

Status Generator::add(GenerationRequest request) {
  if (Status s = validate_sampling_options(request.sampling); !s.ok()) return s;
  if (request.input_ids.empty()) {
    return Status::invalid_argument("generator: request " + std::to_string(request.id) +
                                    " has an empty prompt");
  }
  queue_.push_back(std::move(request));
  return Status();
}

Status Generator::ensure_scratch(int64_t rows) {
  if (scratch_ && scratch_->rows >= rows) return Status();
  tensor::Backend& backend = model_.backend();
  const TextDims& dims = model_.dims().text;
  auto scratch = std::make_unique<Scratch>();
  scratch->rows = rows;
  const tensor::DType weights = tensor::weight_dtype(model_.precision());
  auto ws = TextWorkspace::allocate(backend, dims, rows, weights);
  if (!ws.ok()) return ws.status();
  scratch->ws = std::move(ws).value();
  auto hidden = backend.allocate(tensor::DType::kF32, rows, dims.hidden_size);
  auto normed = backend.allocate(weights, options_.max_batch, dims.hidden_size);
  auto logits = backend.allocate(tensor::DType::kF32, options_.max_batch, dims.vocab_size);
  for (const auto* r : {&hidden, &normed, &logits}) {
    if (!r->ok()) return r->status().with_context("generator scratch");
  }
  scratch->hidden = std::move(hidden).value();
  scratch->normed = std::move(normed).value();
  scratch->logits = std::move(logits).value();
  auto host_logits =
      backend.allocate_host(static_cast<size_t>(options_.max_batch * dims.vocab_size));
  if (!host_logits.ok()) return host_logits.status().with_context("generator scratch");
  scratch->host_logits = std::move(host_logits).value();
  scratch_ = std::move(scratch);
  return Status();
}

Result<Generator::FeatureSet> Generator::features_for(
    const std::vector<GenerationRequest*>& requests) {
  tensor::Backend& backend = model_.backend();
  const ModelDims& dims = model_.dims();
  FeatureSet set;
  set.where.resize(requests.size());
  std::vector<tensor::HostMatrix> pixels;  // read in place: a batch's are ~1 GB
  std::vector<VisionGrid> grids;
  std::vector<size_t> encoded;
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerationRequest& r = *requests[i];
    const int64_t tokens = total_tokens(r.video_grids, dims.vision.merge_size);
    if (!r.vision_features.empty() || tokens == 0) {
      // Golden features (or no video): upload as they are, [tokens, hidden].
      if (static_cast<int64_t>(r.vision_features.size()) != tokens * dims.text.hidden_size) {
        return Status::invalid_argument("generator: request " + std::to_string(r.id) + " has " +
                                        std::to_string(r.vision_features.size()) +
                                        " feature values, its grids need " +
                                        std::to_string(tokens) + " rows");
      }
      auto t = backend.allocate(tensor::DType::kF32, std::max<int64_t>(tokens, 1),
                                dims.text.hidden_size);
      if (!t.ok()) return t.status();
      if (tokens > 0) backend.upload(t->view().rows_slice(0, tokens), r.vision_features);
      set.where[i] = {set.tensors.size(), 0};
      set.tensors.push_back(std::move(t).value());
      continue;
    }
    set.where[i] = {requests.size(), total_tokens(grids, dims.vision.merge_size)};
    grids.insert(grids.end(), r.video_grids.begin(), r.video_grids.end());
    encoded.push_back(i);
  }
  if (encoded.empty()) return set;
  const auto start = Clock::now();
  for (size_t i : encoded) pixels.push_back(requests[i]->pixel_values.matrix());
  Result<tensor::Tensor> features = model_.encode_video(pixels, grids);
  if (!features.ok()) return features.status();
  times_.vision_s += seconds_since(start);
  times_.vision_patches += total_patches(grids);
  for (size_t i : encoded) set.where[i].first = set.tensors.size();
  set.tensors.push_back(std::move(features).value());
  return set;
}

Status Generator::prefill(Sequence& seq, const std::vector<VisionGrid>& grids,
                          const tensor::Tensor& features, int64_t feature_row) {
  const auto start = Clock::now();
  tensor::Backend& backend = model_.backend();
  const ModelDims& dims = model_.dims();
  const MRopeParams mrope{dims.text.head_dim(), dims.text.rope_theta, dims.text.mrope_section};
  auto rope = get_rope_index(seq.ids, {}, grids, dims.vision.merge_size, dims.tokens);
  if (!rope.ok()) return rope.status();
  seq.rope_delta = rope->rope_delta;
  const TokenId pad = dims.tokens.video_pad;
  const int64_t num_pads = std::count(seq.ids.begin(), seq.ids.end(), pad);
  if (num_pads != total_tokens(grids, dims.vision.merge_size)) {
    return Status::invalid_argument(
        "generator: prompt has " + std::to_string(num_pads) + " video pad tokens, the grids give " +
        std::to_string(total_tokens(grids, dims.vision.merge_size)) + " vision features");
  }
  const int64_t chunk = std::max<int64_t>(1, model_.chunks().prefill_rows);
  // Rows for this prompt's chunks only (estimate_memory_bytes counts those): a GPU's chunk of
  // 8192 rows is ~1.4 GB of activations for 7B, most of it idle under a short prompt.
  if (Status s = ensure_scratch(std::max(std::min(chunk, seq.prompt_len), options_.max_batch));
      !s.ok())
    return s;
  TextWorkspace& ws = scratch_->ws;
  RotaryTable table;
  int64_t pads_before = 0;
  tensor::TensorView last_rows;
  for (int64_t c0 = 0; c0 < seq.prompt_len; c0 += chunk) {
    const int64_t n = std::min(chunk, seq.prompt_len - c0);
    const tensor::TensorView hidden = scratch_->hidden.view().rows_slice(0, n);
    const std::span<const TokenId> chunk_ids(seq.ids.data() + c0, static_cast<size_t>(n));
    if (Status s = model_.language().embed(backend, chunk_ids, hidden); !s.ok()) return s;
    // spec §9: the video pads take the vision rows, in order.
    std::vector<int64_t> pad_rows;
    for (int64_t i = 0; i < n; ++i) {
      if (chunk_ids[static_cast<size_t>(i)] == pad) pad_rows.push_back(i);
    }
    if (!pad_rows.empty()) {
      const auto count = static_cast<int64_t>(pad_rows.size());
      backend.copy_rows(hidden, features.view().rows_slice(feature_row + pads_before, count),
                        pad_rows);
      pads_before += count;
    }
    mrope_table_for_prompt(*rope, c0, n, inv_freq_, mrope, table);
    backend.upload(ws.cos.view().rows_slice(0, n), table.cos);
    backend.upload(ws.sin.view().rows_slice(0, n), table.sin);
    const SequenceRows rows{0, n, &seq.cache};
    model_.language().forward(backend, ws, hidden, std::span(&rows, 1));
    last_rows = hidden.rows_slice(n - 1, 1);
  }
  model_.language().logits(backend, last_rows, scratch_->normed.view().rows_slice(0, 1),
                           scratch_->logits.view().rows_slice(0, 1));
  if (Status s = backend.synchronize(); !s.ok()) return s;
  times_.prefill_s += seconds_since(start);
  times_.prompt_tokens += seq.prompt_len;
  return Status();
}

Result<std::unique_ptr<Generator::Sequence>> Generator::start(GenerationRequest& request,
                                                              const tensor::Tensor& features,
                                                              int64_t feature_row) {
  auto seq = std::make_unique<Sequence>(request.sampling, model_.dims().text.vocab_size);
  seq->id = request.id;
  seq->ids = std::move(request.input_ids);
  seq->distinct_ids.add(seq->ids);
  seq->forced = std::move(request.forced_ids);
  seq->prompt_len = static_cast<int64_t>(seq->ids.size());
  seq->ids.reserve(seq->ids.size() + static_cast<size_t>(request.sampling.max_new_tokens));
  // spec §11.3: the cache holds the prompt and every generated token but the last.
  auto cache =
      KvCache::allocate(model_.backend(), model_.dims().text,
                        seq->prompt_len + request.sampling.max_new_tokens, model_.kv_cache_dtype());
  if (!cache.ok()) return cache.status();
  seq->cache = std::move(cache).value();
  if (Status s = prefill(*seq, request.video_grids, features, feature_row); !s.ok()) return s;
  return seq;
}

Result<std::vector<TokenId>> Generator::select_tokens(std::span<Sequence* const> sequences) {
  tensor::Backend& backend = model_.backend();
  const int64_t vocab = model_.dims().text.vocab_size;
  const size_t m = sequences.size();
  std::vector<tensor::ScoreRowRule>& rules = scratch_->rules;
  std::vector<tensor::LargestScore>& largest = scratch_->largest;
  rules.resize(m);
  largest.resize(m);
  for (size_t i = 0; i < m; ++i) {
    rules[i] = sequences[i]->selector.score_rule(sequences[i]->distinct_ids.ids());
  }
  const tensor::TensorView logits = scratch_->logits.view().rows_slice(0, static_cast<int64_t>(m));
  backend.process_scores(logits, rules, largest);
  std::vector<TokenId> chosen(m);
  std::vector<size_t> on_host;  // rows whose largest score did not decide: rare, see choice()
  for (size_t i = 0; i < m; ++i) {
    const std::optional<TokenId> decided = sequences[i]->selector.choice(largest[i]);
    if (decided) {
      chosen[i] = *decided;
    } else {
      on_host.push_back(i);
    }
  }
  const auto host_row = [&](size_t i) {
    return scratch_->host_logits.span().subspan(i * static_cast<size_t>(vocab),
                                                static_cast<size_t>(vocab));
  };
  for (const size_t i : on_host) {
    backend.download(logits.rows_slice(static_cast<int64_t>(i), 1), host_row(i));
  }
  // A failed op leaves NaNs behind: report it rather than choose from them.
  if (Status s = backend.synchronize(); !s.ok()) return s;
  times_.tokens_chosen_on_host += static_cast<int64_t>(on_host.size());
  backend.parallel_for_host(static_cast<int64_t>(on_host.size()), [&](int64_t k) {
    const size_t i = on_host[static_cast<size_t>(k)];
    chosen[i] = sequences[i]->selector.select_processed(host_row(i), largest[i]);
  });
  return chosen;
}

bool Generator::take(Sequence& seq, TokenId chosen) {
  const size_t step = seq.generated.size();
  const TokenId fed = step < seq.forced.size() ? seq.forced[step] : chosen;
  seq.generated.push_back(chosen);
  seq.ids.push_back(fed);
  seq.distinct_ids.add(fed);
  ++times_.generated_tokens;
  seq.stopped_on_eos = seq.selector.is_eos(fed);
  return seq.selector.finished(fed, static_cast<int64_t>(seq.generated.size()));
}

GenerationResult Generator::result_of(Sequence& seq) {
  GenerationResult r;
  r.id = seq.id;
  r.generated_ids = std::move(seq.generated);
  r.stopped_on_eos = seq.stopped_on_eos;
  r.prompt_tokens = seq.prompt_len;
  return r;
}

Status Generator::admit(size_t count, std::vector<GenerationResult>& finished) {
  std::vector<GenerationRequest> admitted;
  while (admitted.size() < count && !queue_.empty()) {
    admitted.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  std::vector<GenerationRequest*> pointers;
  for (auto& r : admitted) pointers.push_back(&r);
  auto features = features_for(pointers);
  if (!features.ok()) {
    // One bad request must not sink the others, nor a batch too large for the memory left
    // (a vision pass grows with the clips encoded together): retry them one by one.
    const StatusCode code = features.status().code();
    if (admitted.size() > 1 &&
        (code == StatusCode::kInvalidArgument || code == StatusCode::kOutOfMemory)) {
      for (auto it = admitted.rbegin(); it != admitted.rend(); ++it) {
        queue_.push_front(std::move(*it));
      }
      for (size_t i = 0; i < count && !queue_.empty(); ++i) {
        if (Status s = admit(1, finished); !s.ok()) return s;
      }
      return Status();
    }
    for (auto& r : admitted) finished.push_back(failure(r, features.status()));
    return Status();
  }
  for (size_t i = 0; i < admitted.size(); ++i) {
    const auto [tensor_index, row] = features->where[i];
    auto seq = start(admitted[i], features->tensors[tensor_index], row);
    if (!seq.ok()) {
      finished.push_back(failure(admitted[i], seq.status()));
      continue;
    }
    Sequence* const one[] = {seq->get()};
    auto first = select_tokens(one);
    if (!first.ok()) return first.status();
    if (take(**seq, first->front())) {
      finished.push_back(result_of(**seq));
    } else {
      active_.push_back(std::move(seq).value());
    }
  }
  return Status();
}

Status Generator::decode_step(std::vector<GenerationResult>& finished) {
  if (active_.empty()) return Status();
  const auto start = Clock::now();
  tensor::Backend& backend = model_.backend();
  const TextDims& dims = model_.dims().text;
  const MRopeParams mrope{dims.head_dim(), dims.rope_theta, dims.mrope_section};
  const auto m = static_cast<int64_t>(active_.size());
  if (Status s = ensure_scratch(m); !s.ok()) return s;
  std::vector<TokenId> last(static_cast<size_t>(m));
  std::vector<int64_t> positions(static_cast<size_t>(m));
  std::vector<SequenceRows> rows(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    Sequence& seq = *active_[static_cast<size_t>(i)];
    last[static_cast<size_t>(i)] = seq.ids.back();
    // spec §10.2: the fed token sits at sequence index ids.size() - 1.
    positions[static_cast<size_t>(i)] =
        decode_position(static_cast<int64_t>(seq.ids.size()) - 1, seq.rope_delta);
    rows[static_cast<size_t>(i)] = {i, 1, &seq.cache};
  }
  const tensor::TensorView hidden = scratch_->hidden.view().rows_slice(0, m);
  if (Status s = model_.language().embed(backend, last, hidden); !s.ok()) return s;
  RotaryTable table;
  mrope_table(positions, positions, positions, inv_freq_, mrope, table);
  backend.upload(scratch_->ws.cos.view().rows_slice(0, m), table.cos);
  backend.upload(scratch_->ws.sin.view().rows_slice(0, m), table.sin);
  model_.language().forward(backend, scratch_->ws, hidden, rows);
  const tensor::TensorView logits = scratch_->logits.view().rows_slice(0, m);
  model_.language().logits(backend, hidden, scratch_->normed.view().rows_slice(0, m), logits);
  times_.decode_issue_s += seconds_since(start);
  if (Status s = backend.synchronize(); !s.ok()) return s;
  const auto select_start = Clock::now();
  std::vector<Sequence*> sequences;
  for (const auto& seq : active_) sequences.push_back(seq.get());
  const auto chosen = select_tokens(sequences);
  if (!chosen.ok()) return chosen.status();
  times_.decode_select_s += seconds_since(select_start);
  std::vector<std::unique_ptr<Sequence>> still_active;
  for (int64_t i = 0; i < m; ++i) {
    auto& seq = active_[static_cast<size_t>(i)];
    if (take(*seq, (*chosen)[static_cast<size_t>(i)])) {
      finished.push_back(result_of(*seq));
    } else {
      still_active.push_back(std::move(seq));
    }
  }
  active_ = std::move(still_active);
  const double seconds = seconds_since(start);
  times_.decode_s += seconds;
  ++times_.decode_steps;
  if (m == 1) {
    times_.single_decode_s += seconds;
    ++times_.single_decode_steps;
  }
  return Status();
}

Result<std::vector<GenerationResult>> Generator::step() {
  std::vector<GenerationResult> finished;
  const auto room = static_cast<size_t>(options_.max_batch) - active_.size();
  if (room > 0 && !queue_.empty()) {
    if (Status s = admit(room, finished); !s.ok()) return s;
  }
  if (Status s = decode_step(finished); !s.ok()) return s;
  return finished;
}

Result<std::vector<float>> Generator::prefill_logits(GenerationRequest request) {
  std::vector<GenerationRequest*> one = {&request};
  auto features = features_for(one);
  if (!features.ok()) return features.status();
  auto seq = start(request, features->tensors[features->where[0].first], features->where[0].second);
  if (!seq.ok()) return seq.status();
  std::vector<float> row(static_cast<size_t>(model_.dims().text.vocab_size));
  model_.backend().download(scratch_->logits.view().rows_slice(0, 1), row);
  if (Status s = model_.backend().synchronize(); !s.ok()) return s;
  return row;
}

}  // namespace vcap::model
