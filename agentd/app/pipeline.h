// Pipeline: everything one config builds — inputs, router, one OutputRunner per
// <match> — and the order they start and stop in:
//   start: outputs (buffers resume their chunks) before inputs;
//   stop:  inputs first (nothing new arrives), then outputs flush per
//          flush_at_shutdown within the shutdown deadline.
//
// Handover (docs/handover-protocol.md): the pipeline is split into the part
// that can run in two workers at once — network inputs on shared listeners —
// and the "core" that cannot: outputs with their buffers, and tail inputs.
// Network inputs emit through a gate that points at the router (normal) or at
// the handover spool (source-only; with memory buffers only the core's
// outputs are kept and the gates stay on the routers until switch-over).
//
//            start(kHeld) --activate--> normal --enter_source_only--> source_only
//   start(kNow) ------------------------^  ^------------resume-------------|
//                                                 release_connections -> seal_spool -> (exit)
// Thread safety: every method from one thread (the worker's control thread).
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "agentd/core/clock.h"
#include "agentd/core/metrics.h"
#include "agentd/handover/spool.h"
#include "agentd/inputs/input.h"
#include "agentd/outputs/group.h"
#include "agentd/outputs/output_runner.h"
#include "agentd/router/router.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

struct PipelineOptions {
  std::string root_dir;  // data directory (file buffers without path, tail positions)
  std::chrono::seconds shutdown_timeout{30};
  ListenerSource listen;  // set in a worker: listeners come from the supervisor
};

// Points every emit at the current target; retargeting waits for emits in
// flight, so after set() returns nothing reaches the old target.
class Gate final : public Emitter {
 public:
  Status emit(EventBatch& batch) override;
  void set(Emitter* target);

 private:
  std::shared_mutex mu_;
  Emitter* target_ = nullptr;
};

class Pipeline {
 public:
  // Builds every plugin (no sockets opened, no files locked yet).
  static Result<std::unique_ptr<Pipeline>> build(const config::PipelineConfig& config,
                                                 PipelineOptions options, const Clock& clock,
                                                 Metrics& metrics);
  ~Pipeline();
  Status start(Reading reading = Reading::kNow);
  // Starts held tails and lets network inputs read.
  Status activate();
  void stop(Drain drain = Drain::kAsConfigured);

  // Phase 1 of a handover: stops tails (positions saved) and opens a spool in
  // `spool_dir`. When any output has a file buffer, stops the outputs without
  // flushing (memory-buffer chunks go to the spool, file buffers are closed
  // and unlocked) and the network inputs go on, into the spool. With memory
  // buffers only, the outputs are kept (outputs_kept()): inputs go on into
  // them until seal_spool. Returns the memory-buffer events spooled.
  Result<std::uint64_t> enter_source_only(const std::string& spool_dir);
  bool outputs_kept() const { return outputs_kept_; }
  // Rollback: points inputs back at the core (rebuilt and started unless it
  // was kept), starts the tails and ingests this worker's own spool.
  Status resume();
  // Switch-over: stops reading listeners and gives up established connections.
  std::vector<HandedConnection> release_connections();
  // Stops the network inputs (what they parsed goes to the spool or to kept
  // outputs), spools kept outputs' memory chunks that are not yet written
  // (logged) and seals the spool; returns its directory ("" without one).
  std::string seal_spool();
  Status adopt(HandedConnection c);
  // The gate of <label NAME> (events cross a handover through it), or null
  // when the config has no such label.
  Emitter* label_gate(const std::string& name);
  // The gate of the top level (what a <source> without @label emits into).
  Emitter& top_gate() { return gate_for(""); }
  // Delivers a sealed spool from another (or a crashed) worker.
  Result<std::uint64_t> ingest(const std::string& spool_dir);

 private:
  Pipeline(const config::PipelineConfig& config, const Clock& clock, Metrics& metrics,
           PipelineOptions o)
      : config_(config), clock_(clock), metrics_(metrics), options_(std::move(o)) {}
  // Router, outputs and tail inputs: what may run in one worker at a time.
  struct Core {
    std::vector<std::unique_ptr<Filter>> filters;           // outlive the router's use of them
    std::unique_ptr<Router> router;                         // the top-level routes
    std::map<std::string, std::unique_ptr<Router>> labels;  // <label @NAME>
    Router* router_for(const std::string& label) const {
      return label.empty() ? router.get() : labels.at(label).get();
    }
    std::vector<std::unique_ptr<OutputGroup>> groups;    // destroyed after their stores
    std::vector<std::unique_ptr<OutputRunner>> outputs;  // a group's stores too
    std::vector<std::unique_ptr<Input>> tails;
    std::size_t started_outputs = 0, started_tails = 0;
    Status start_outputs();
    Status start_tails();
    void stop_tails();
  };
  Result<std::unique_ptr<Core>> build_core();
  Status build_tails(Core& core);  // replaces core.tails (stopped) with fresh ones
  void stop_core(Core& core, Drain drain = Drain::kAsConfigured);
  Result<std::unique_ptr<OutputRunner>> build_output(const config::Section& out);
  // What a <match> emits into: its output, or a group over its <store>s
  // (whose runners join core.outputs).
  Result<Emitter*> build_target(Core& core, const config::Section& out);
  OutputRunner* output_by_id(const std::string& id) const;
  // Stops the started outputs for a handover, their memory chunks into the spool.
  Result<std::uint64_t> spool_outputs();

  config::PipelineConfig config_;
  const Clock& clock_;
  Metrics& metrics_;
  PipelineOptions options_;
  // Network inputs emit through a gate per label ("" for the top level): to
  // that label's router, or to the spool during a handover.
  Gate& gate_for(const std::string& label);
  void gates_to_routers();
  std::map<std::string, std::unique_ptr<Gate>> gates_;
  // What a gate points at during the source-only phase: the spool, with the label.
  struct LabelledSpool final : Emitter {
    Spool* spool = nullptr;
    std::string label;
    Status emit(EventBatch& batch) override { return spool->emit_for_label(batch, label); }
  };
  std::map<std::string, std::unique_ptr<LabelledSpool>> spool_gates_;
  std::unique_ptr<Core> core_;
  std::vector<std::unique_ptr<Input>> network_;
  std::size_t started_network_ = 0;
  std::unique_ptr<Spool> spool_;
  bool outputs_kept_ = false;  // source-only with the outputs still delivering
};

}  // namespace logctl::agentd
