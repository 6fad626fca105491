#include "agentd/app/pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <iterator>

#include "agentd/buffer/file_chunk.h"
#include "agentd/core/log.h"
#include "agentd/outputs/file_output.h"
#include "agentd/outputs/forward_output.h"
#include "agentd/outputs/http_output.h"

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
    fo.file_mode = octal(bsec->str("file_permission"), 0640);
    fo.dir_mode = octal(bsec->str("dir_permission"), 0750);
    store = make_file_store(fo);
  } else {
    store = make_memory_store();
  }
  // Where appends of this worker and of the other generation in a handover
  // take turns (file_output.h).
  const std::string locks = options_.root_dir.empty() ? "" : options_.root_dir + "/locks";
  Result<std::unique_ptr<Output>> primary;
  if (out.type() == "file") {
    primary = make_file_output(out, bo->keys, bo->timekey, bo->timekey_use_utc, locks);
  } else if (out.type() == "stdout") {
    primary = make_stdout_output(out, locks);
  } else if (out.type() == "null") {
    primary = make_null_output();
  } else if (out.type() == "http") {
    primary = make_http_output(out);
  } else if (out.type() == "forward") {
    primary = make_forward_output(out, metrics_);
  } else {
    return fail(out, "@type " + out.type() + " can only be used in <secondary>");
  }
  if (!primary) return std::unexpected(primary.error());
  std::unique_ptr<Output> secondary;
  if (const auto* sec = out.child("secondary")) {
    Result<std::unique_ptr<Output>> s;
    if (sec->type() == "secondary_file") {
      s = make_secondary_file_output(*sec, locks);
    } else if (sec->type() == "file") {
      s = make_file_output(*sec, bo->keys, bo->timekey, bo->timekey_use_utc, locks);
    } else if (sec->type() == "stdout") {
      s = make_stdout_output(*sec, locks);
    } else {
      s = make_null_output();
    }
    if (!s) return std::unexpected(s.error());
    secondary = std::move(*s);
  }
  auto buffer = std::make_unique<Buffer>(out.id(), *bo, std::move(store), clock_, metrics_);
  auto runner = std::make_unique<OutputRunner>(
      out.id(), out.type(), std::move(buffer), std::move(*primary), std::move(secondary),
      retry_options(*bsec), static_cast<int>(bsec->integer("flush_thread_count")), clock_, metrics_,
      options_.root_dir.empty() ? "" : options_.root_dir + "/quarantine/" + out.id());
  runner->set_injector(Injector::make(out.child("inject")));
  return runner;
}

Result<Emitter*> Pipeline::build_target(Core& core, const config::Section& out) {
  using Kind = OutputGroup::Kind;
  std::optional<Kind> kind;
  if (out.type() == "copy") kind = Kind::kCopy;
  if (out.type() == "failover") kind = Kind::kFailover;
  if (out.type() == "load_balance") kind = Kind::kLoadBalance;
  if (out.type() == "relabel") return core.router_for(out.label());  // validated: it exists
  if (!kind) {
    auto runner = build_output(out);
    if (!runner) return std::unexpected(runner.error());
    core.outputs.push_back(std::move(*runner));
    return core.outputs.back().get();
  }
  std::vector<OutputGroup::Store> stores;
  for (const config::Section* st : out.children("store")) {
    auto runner = build_output(*st);
    if (!runner) return std::unexpected(runner.error());
    core.outputs.push_back(std::move(*runner));
    stores.push_back(OutputGroup::Store{core.outputs.back().get(), st->store_param("priority", 0),
                                        st->store_param("weight", 1), st->ignore_error()});
  }
  bool random = *kind == Kind::kLoadBalance && out.str("strategy") == "random";
  double max_penalty = *kind == Kind::kCopy ? 0 : out.number("max_penalty");
  core.groups.push_back(std::make_unique<OutputGroup>(out.id(), *kind, std::move(stores),
                                                      max_penalty, random, clock_, metrics_));
  return core.groups.back().get();
}

Emitter* Pipeline::label_gate(const std::string& name) {
  return core_->labels.contains(name) ? &gate_for(name) : nullptr;
}

Gate& Pipeline::gate_for(const std::string& label) {
  auto& g = gates_[label];
  if (!g) g = std::make_unique<Gate>();
  return *g;
}

void Pipeline::gates_to_routers() {
  for (auto& [label, gate] : gates_) gate->set(core_->router_for(label));
}

Status Gate::emit(EventBatch& batch) {
  std::shared_lock lock(mu_);
  if (!target_) return make_error(ErrorCode::kResourceExhausted, "pipeline is not accepting");
  return target_->emit(batch);
}

void Gate::set(Emitter* target) {
  std::unique_lock lock(mu_);
  target_ = target;
}

Result<std::unique_ptr<Pipeline::Core>> Pipeline::build_core() {
  auto core = std::make_unique<Core>();
  core->router = std::make_unique<Router>(metrics_);
  for (const auto& l : config_.labels) core->labels[l.name] = std::make_unique<Router>(metrics_);
  if (auto e = core->labels.find("@ERROR"); e != core->labels.end()) {
    core->router->set_errors(e->second.get());  // not @ERROR's own: no loops
    for (auto& [name, r] : core->labels) {
      if (name != "@ERROR") r->set_errors(e->second.get());
    }
  }
  auto routes = [&](Router& router, const std::vector<config::MatchConfig>& matches,
                    const std::vector<config::FilterConfig>& filters) -> Status {
    for (const auto& m : matches) {
      auto target = build_target(*core, m.output);
      if (!target) return std::unexpected(target.error());
      std::vector<TagPattern> patterns;
      for (const auto& pat : m.patterns) patterns.emplace_back(pat);
      router.add_route(std::move(patterns), *target, m.order);
    }
    for (const auto& f : filters) {
      auto filter = make_filter(f.filter, metrics_);
      if (!filter) return std::unexpected(filter.error());
      std::vector<TagPattern> patterns;
      for (const auto& pat : f.patterns) patterns.emplace_back(pat);
      router.add_filter(std::move(patterns), filter->get(), f.order);
      core->filters.push_back(std::move(*filter));
    }
    return {};
  };
  if (auto st = routes(*core->router, config_.matches, config_.filters); !st) {
    return std::unexpected(st.error());
  }
  std::size_t error_from = 0, error_to = 0;  // the outputs of <label @ERROR> itself
  for (const auto& l : config_.labels) {
    if (l.name == "@ERROR") error_from = core->outputs.size();
    if (auto st = routes(*core->labels[l.name], l.matches, l.filters); !st) {
      return std::unexpected(st.error());
    }
    if (l.name == "@ERROR") error_to = core->outputs.size();
  }
  if (auto e = core->labels.find("@ERROR"); e != core->labels.end()) {
    for (std::size_t i = 0; i < core->outputs.size(); ++i) {
      if (i < error_from || i >= error_to) core->outputs[i]->set_errors(e->second.get());
    }
  }
  if (auto st = build_tails(*core); !st) return std::unexpected(st.error());
  return core;
}

Status Pipeline::build_tails(Core& core) {
  core.tails.clear();
  for (const auto& src : config_.sources) {
    if (src.type() != "tail") continue;
    auto errors = core.labels.find("@ERROR");
    auto in =
        make_input(src, InputContext{*core.router_for(src.label()),
                                     clock_,
                                     metrics_,
                                     options_.root_dir,
                                     {},
                                     errors == core.labels.end() ? nullptr : errors->second.get()});
    if (!in) return std::unexpected(in.error());
    core.tails.push_back(std::move(*in));
  }
  return {};
}

Result<std::unique_ptr<Pipeline>> Pipeline::build(const config::PipelineConfig& config,
                                                  PipelineOptions options, const Clock& clock,
                                                  Metrics& metrics) {
  std::unique_ptr<Pipeline> p(new Pipeline(config, clock, metrics, std::move(options)));
  auto core = p->build_core();
  if (!core) return std::unexpected(core.error());
  p->core_ = std::move(*core);
  // The gates agentd's own log may use exist before any handover maps gates.
  (void)p->label_gate("@FLUENT_LOG");
  (void)p->top_gate();
  for (const auto& src : config.sources) {
    if (src.type() == "tail") continue;
    Emitter* errors = p->label_gate("@ERROR");
    auto in = make_input(src, InputContext{p->gate_for(src.label()), clock, metrics,
                                           p->options_.root_dir, p->options_.listen, errors});
    if (!in) return std::unexpected(in.error());
    p->network_.push_back(std::move(*in));
  }
  return p;
}

Pipeline::~Pipeline() {
  stop();
}

// Both go on from where an earlier call stopped (what started stays started).
Status Pipeline::Core::start_outputs() {
  for (; started_outputs < outputs.size(); ++started_outputs) {
    if (auto s = outputs[started_outputs]->start(); !s) return s;
  }
  return {};
}

Status Pipeline::Core::start_tails() {
  for (; started_tails < tails.size(); ++started_tails) {
    if (auto s = tails[started_tails]->start(); !s) return s;
  }
  return {};
}

void Pipeline::Core::stop_tails() {
  for (std::size_t i = started_tails; i-- > 0;) tails[i]->stop();
  started_tails = 0;
}

void Pipeline::stop_core(Core& core, Drain drain) {
  core.stop_tails();
  auto deadline = clock_.steady() + options_.shutdown_timeout;
  for (std::size_t i = 0; i < core.started_outputs; ++i) core.outputs[i]->stop(deadline, drain);
  core.started_outputs = 0;
}

Status Pipeline::start(Reading reading) {
  // Held: tails too wait for activate(), so a new generation that dies before
  // it takes over has read nothing the old one would not read again.
  if (auto s = core_->start_outputs(); !s) return s;
  if (reading == Reading::kNow) {
    if (auto s = core_->start_tails(); !s) return s;
  }
  gates_to_routers();
  for (; started_network_ < network_.size(); ++started_network_) {
    if (auto s = network_[started_network_]->start(reading); !s) return s;
  }
  return {};
}

Status Pipeline::activate() {
  if (auto s = core_->start_tails(); !s) return s;
  for (auto& in : network_) in->activate();
  return {};
}

void Pipeline::stop(Drain drain) {
  for (std::size_t i = started_network_; i-- > 0;) network_[i]->stop();
  started_network_ = 0;
  if (core_) stop_core(*core_, drain);
  if (spool_) spool_->seal();
}

OutputRunner* Pipeline::output_by_id(const std::string& id) const {
  for (const auto& o : core_->outputs) {
    if (o->id() == id) return o.get();
  }
  return nullptr;
}

Result<std::uint64_t> Pipeline::enter_source_only(const std::string& spool_dir) {
  auto spool = Spool::open(spool_dir);
  if (!spool) return std::unexpected(spool.error());
  spool_ = std::move(*spool);
  // Tails read to where they are and save their positions while the router
  // still takes their events.
  core_->stop_tails();
  // Memory buffers only: nothing of the core is exclusive to one worker, so
  // the outputs go on delivering what the network inputs bring until
  // switch-over (seal_spool), instead of every event from here to the new
  // generation's ingest waiting in the spool. Their chunks cross at switch-over.
  outputs_kept_ =
      std::ranges::none_of(core_->outputs, [](const auto& o) { return o->buffer().persistent(); });
  if (outputs_kept_) return 0;
  // Otherwise the network inputs switch to the spool and the outputs stop
  // (file buffers closed and unlocked for the new generation).
  for (auto& [label, gate] : gates_) {
    auto& to = spool_gates_[label];
    if (!to) to = std::make_unique<LabelledSpool>();
    to->spool = spool_.get();
    to->label = label;
    gate->set(to.get());
  }
  return spool_outputs();
}

Result<std::uint64_t> Pipeline::spool_outputs() {
  std::uint64_t kept = 0;
  Status first_error;
  for (std::size_t i = 0; i < core_->started_outputs; ++i) {
    auto n = core_->outputs[i]->stop_for_handover(
        [&](const std::string& id, const Chunk& c) { return spool_->keep(id, c); });
    if (n) {
      kept += *n;
    } else if (first_error) {
      first_error = std::unexpected(n.error());
    }
  }
  core_->started_outputs = 0;
  if (!first_error) return std::unexpected(first_error.error());
  return kept;
}

Status Pipeline::resume() {
  if (outputs_kept_) {
    // The outputs never stopped and the inputs never left them: only the
    // tails are built afresh from their saved positions (including files
    // rotated meanwhile), as a rebuilt core's would be.
    outputs_kept_ = false;
    if (auto st = build_tails(*core_); !st) return st;
  } else {
    // The old core's plugins are stopped; build fresh ones (they recover file
    // buffers and tail positions — including what a failed successor wrote).
    auto core = build_core();
    if (!core) return std::unexpected(core.error());
    core_ = std::move(*core);
    if (auto s = core_->start_outputs(); !s) return s;
    gates_to_routers();
  }
  if (spool_) {
    std::string dir = spool_->dir();
    spool_->seal();
    spool_.reset();
    auto n = ingest(dir);
    if (!n) return std::unexpected(n.error());
  }
  return core_->start_tails();
}

std::vector<HandedConnection> Pipeline::release_connections() {
  std::vector<HandedConnection> out;
  for (auto& in : network_) {
    auto conns = in->release_connections();
    std::move(conns.begin(), conns.end(), std::back_inserter(out));
  }
  return out;
}

std::string Pipeline::seal_spool() {
  for (std::size_t i = started_network_; i-- > 0;) network_[i]->stop();
  started_network_ = 0;
  if (!spool_) return "";
  if (outputs_kept_) {
    // Nothing reaches them any more. What is due already (queued) is written
    // now, for up to a second — at 16 connections and 1 M events/s up to
    // 78,000 events were queued here, and through the spool they waited for
    // the new generation's ingest —; what is not due yet (staged, waiting
    // for its flush interval), or still queued after that second, crosses in
    // the spool to the new generation's output of the same @id. The new
    // generation serves already, so a chunk that cannot be spooled (a full
    // disk) is lost, and said so; the others are spooled.
    outputs_kept_ = false;
    auto deadline = clock_.steady() + std::min<std::chrono::steady_clock::duration>(
                                          options_.shutdown_timeout, std::chrono::seconds(1));
    for (std::size_t i = 0; i < core_->started_outputs; ++i) {
      core_->outputs[i]->deliver_queued(deadline);
    }
    auto n = spool_outputs();
    if (!n) {
      log::error("switch-over: a memory-buffer chunk could not be spooled, its events are lost: " +
                 n.error().message);
    } else if (*n > 0) {
      log::info("switch-over: " + std::to_string(*n) + " memory-buffer event(s) spooled to " +
                spool_->dir());
    }
  }
  spool_->seal();
  return spool_->dir();
}

Status Pipeline::adopt(HandedConnection c) {
  for (auto& in : network_) {
    if (in->listener_key() == c.key) return in->adopt(std::move(c));
  }
  // The new config has no input on that listener: the client reconnects
  // (the listener itself stays with the supervisor).
  ::close(c.fd);
  return make_error(ErrorCode::kNotFound, "no input listens on " + c.key + " any more");
}

Result<std::uint64_t> Pipeline::ingest(const std::string& spool_dir) {
  SpoolTargets t{[this](const std::string& id) { return output_by_id(id); }, core_->router.get(),
                 [this](const std::string& label) -> Emitter* {
                   auto it = core_->labels.find(label);
                   return it == core_->labels.end() ? nullptr : it->second.get();
                 }};
  auto n = ingest_spool(spool_dir, t, clock_.steady() + options_.shutdown_timeout);
  if (n) {
    log::info("handover: ingested " + std::to_string(*n) + " event(s) from " + spool_dir);
    // Its chunks were taken: the directory goes too (rmdir removes only an
    // empty directory, never follows a link), so generations do not pile up.
    ::rmdir(spool_dir.c_str());
  }
  return n;
}

}  // namespace logctl::agentd
