#include "agentd/app/pipeline.h"

#include "agentd/buffer/file_chunk.h"
#include "agentd/core/log.h"
#include "agentd/outputs/file_output.h"

namespace logctl::agentd {
namespace {

std::unexpected<Error> fail(const config::Section& s, const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, s.where().str() + ": " + what);
}

Result<BufferOptions> buffer_options(const config::Section& b) {
  BufferOptions o;
  auto keys = ChunkKeys::parse(b.arg());
  if (!keys) return fail(b, keys.error().message);
  o.keys = *keys;
  o.chunk_limit_size = b.size("chunk_limit_size");
  if (b.is_set("chunk_limit_records")) {
    o.chunk_limit_records = static_cast<std::uint64_t>(b.integer("chunk_limit_records"));
  }
  o.total_limit_size = b.size("total_limit_size");
  if (b.is_set("queue_limit_length")) {
    o.total_limit_size =
        o.chunk_limit_size * static_cast<std::uint64_t>(b.integer("queue_limit_length"));
  }
  o.chunk_full_threshold = b.number("chunk_full_threshold");
  auto mode = b.str("flush_mode");
  o.flush_mode = mode == "immediate"  ? FlushMode::kImmediate
                 : mode == "lazy"     ? FlushMode::kLazy
                 : mode == "interval" ? FlushMode::kInterval
                 : o.keys.time        ? FlushMode::kLazy
                                      : FlushMode::kInterval;
  o.flush_interval = b.number("flush_interval");
  auto overflow = b.str("overflow_action");
  o.overflow_action = overflow == "block"               ? OverflowAction::kBlock
                      : overflow == "drop_oldest_chunk" ? OverflowAction::kDropOldestChunk
                                                        : OverflowAction::kThrowException;
  if (o.keys.time) {
    if (!b.is_set("timekey")) return fail(b, "chunk key 'time' needs timekey");
    o.timekey = static_cast<std::int64_t>(b.number("timekey"));
    if (o.timekey <= 0) return fail(b, "timekey must be at least 1s");
  }
  o.timekey_wait = b.number("timekey_wait");
  o.timekey_use_utc = b.flag("timekey_use_utc");
  o.flush_at_shutdown = b.flag("flush_at_shutdown");
  if (o.chunk_limit_size == 0 || o.total_limit_size < o.chunk_limit_size) {
    return fail(b, "total_limit_size must be at least chunk_limit_size, both positive");
  }
  return o;
}

RetryOptions retry_options(const config::Section& b) {
  RetryOptions r;
  r.type =
      b.str("retry_type") == "periodic" ? RetryType::kPeriodic : RetryType::kExponentialBackoff;
  r.wait = b.number("retry_wait");
  r.backoff_base = b.number("retry_exponential_backoff_base");
  if (b.is_set("retry_max_interval")) r.max_interval = b.number("retry_max_interval");
  r.randomize = b.flag("retry_randomize");
  r.timeout = b.number("retry_timeout");
  if (b.is_set("retry_max_times")) r.max_times = b.integer("retry_max_times");
  r.forever = b.flag("retry_forever");
  r.secondary_threshold = b.number("retry_secondary_threshold");
  return r;
}

mode_t octal(const std::string& s, mode_t fallback) {
  if (s.empty()) return fallback;
  return static_cast<mode_t>(std::stoul(s, nullptr, 8));
}

}  // namespace

Result<std::unique_ptr<OutputRunner>> Pipeline::build_output(const config::Section& out) {
  const config::Section* bsec = out.child("buffer");
  auto bo = buffer_options(*bsec);
  if (!bo) return std::unexpected(bo.error());
  std::unique_ptr<ChunkStore> store;
  if (bsec->type() == "file") {
    FileStoreOptions fo;
    fo.dir = bsec->str("path");
    if (fo.dir.empty() && !options_.root_dir.empty()) {
      fo.dir = options_.root_dir + "/buffer/" + out.id();
    }
    if (fo.dir.empty() && out.type() == "file") {
      // Fluentd keeps out_file's buffer beside its output; so do we, in a
      // directory named after the path up to its first placeholder.
      std::string p = out.str("path");
      p = p.substr(0, p.find_first_of("$%"));
      while (!p.empty() && (p.back() == '.' || p.back() == '/' || p.back() == '_')) p.pop_back();
      fo.dir = p + ".buffer";
    }
    if (fo.dir.empty()) {
      return fail(*bsec, "file buffer needs 'path' (or root_dir in <system> / --root-dir)");
    }
    fo.path_suffix = bsec->str("path_suffix");
    fo.file_mode = octal(bsec->str("file_permission"), 0644);
    fo.dir_mode = octal(bsec->str("dir_permission"), 0755);
    store = make_file_store(fo);
  } else {
    store = make_memory_store();
  }
  Result<std::unique_ptr<Output>> primary;
  if (out.type() == "file") {
    primary = make_file_output(out, bo->keys, bo->timekey, bo->timekey_use_utc);
  } else if (out.type() == "stdout") {
    primary = make_stdout_output(out);
  } else if (out.type() == "null") {
    primary = make_null_output();
  } else {
    return fail(out, "@type " + out.type() + " can only be used in <secondary>");
  }
  if (!primary) return std::unexpected(primary.error());
  std::unique_ptr<Output> secondary;
  if (const auto* sec = out.child("secondary")) {
    Result<std::unique_ptr<Output>> s;
    if (sec->type() == "secondary_file") {
      s = make_secondary_file_output(*sec);
    } else if (sec->type() == "file") {
      s = make_file_output(*sec, bo->keys, bo->timekey, bo->timekey_use_utc);
    } else if (sec->type() == "stdout") {
      s = make_stdout_output(*sec);
    } else {
      s = make_null_output();
    }
    if (!s) return std::unexpected(s.error());
    secondary = std::move(*s);
  }
  auto buffer = std::make_unique<Buffer>(out.id(), *bo, std::move(store), clock_, metrics_);
  return std::make_unique<OutputRunner>(
      out.id(), out.type(), std::move(buffer), std::move(*primary), std::move(secondary),
      retry_options(*bsec), static_cast<int>(bsec->integer("flush_thread_count")), clock_,
      metrics_);
}

Result<std::unique_ptr<Pipeline>> Pipeline::build(const config::PipelineConfig& config,
                                                  PipelineOptions options, const Clock& clock,
                                                  Metrics& metrics) {
  std::unique_ptr<Pipeline> p(new Pipeline(clock, metrics, std::move(options)));
  for (const auto& m : config.matches) {
    auto runner = p->build_output(m.output);
    if (!runner) return std::unexpected(runner.error());
    std::vector<TagPattern> patterns;
    for (const auto& pat : m.patterns) patterns.emplace_back(pat);
    p->router_.add_route(std::move(patterns), runner->get());
    p->outputs_.push_back(std::move(*runner));
  }
  for (const auto& src : config.sources) {
    auto in = make_input(src, InputContext{p->router_, clock, metrics, p->options_.root_dir});
    if (!in) return std::unexpected(in.error());
    p->inputs_.push_back(std::move(*in));
  }
  return p;
}

Status Pipeline::start() {
  for (; started_outputs_ < outputs_.size(); ++started_outputs_) {
    if (auto s = outputs_[started_outputs_]->start(); !s) return s;
  }
  for (; started_inputs_ < inputs_.size(); ++started_inputs_) {
    if (auto s = inputs_[started_inputs_]->start(); !s) return s;
  }
  started_ = true;
  return {};
}

void Pipeline::stop() {
  started_ = false;
  for (std::size_t i = started_inputs_; i-- > 0;) inputs_[i]->stop();
  started_inputs_ = 0;
  auto deadline = clock_.steady() + options_.shutdown_timeout;
  for (std::size_t i = 0; i < started_outputs_; ++i) outputs_[i]->stop(deadline);
  started_outputs_ = 0;
}

}  // namespace logctl::agentd
