// Pipeline: everything one config builds — inputs, router, one OutputRunner per
// <match> — and the order they start and stop in:
//   start: outputs (buffers resume their chunks) before inputs;
//   stop:  inputs first (nothing new arrives), then outputs flush per
//          flush_at_shutdown within the shutdown deadline.
// Thread safety: start()/stop() from one thread.
#pragma once

#include <memory>
#include <vector>

#include "agentd/core/clock.h"
#include "agentd/core/metrics.h"
#include "agentd/inputs/input.h"
#include "agentd/outputs/output_runner.h"
#include "agentd/router/router.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

struct PipelineOptions {
  std::string root_dir;  // data directory (file buffers without path, tail positions)
  std::chrono::seconds shutdown_timeout{30};
};

class Pipeline {
 public:
  // Builds every plugin (no sockets opened, no files locked yet).
  static Result<std::unique_ptr<Pipeline>> build(const config::PipelineConfig& config,
                                                 PipelineOptions options, const Clock& clock,
                                                 Metrics& metrics);
  Status start();
  void stop();
  bool started() const { return started_; }

 private:
  Pipeline(const Clock& clock, Metrics& metrics, PipelineOptions o)
      : clock_(clock), metrics_(metrics), options_(std::move(o)), router_(metrics) {}
  Result<std::unique_ptr<OutputRunner>> build_output(const config::Section& out);

  const Clock& clock_;
  Metrics& metrics_;
  PipelineOptions options_;
  Router router_;
  std::vector<std::unique_ptr<OutputRunner>> outputs_;
  std::vector<std::unique_ptr<Input>> inputs_;
  std::size_t started_outputs_ = 0, started_inputs_ = 0;
  bool started_ = false;
};

}  // namespace logctl::agentd
