// Fuzzes in_http: the HTTP framing (libhttp-parser finding each request's
// end, the body limit, Expect) and the request handler (bodies by
// Content-Type, gzip/deflate, form and query decoding, times, CORS, the
// added HTTP_/QUERY_/REMOTE_ADDR fields, a <parse> on the body). Nothing may
// crash; the same bytes cut in two places give the same frames and replies
// as in one piece; every event is a well-formed [time, map] entry under a
// tag of 1 to 1024 bytes (plus a prefix); every reply is an HTTP/1.1 response
// head (and body). The first byte picks the config and the cut.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agentd/core/clock.h"
#include "agentd/core/log.h"
#include "agentd/core/metrics.h"
#include "agentd/inputs/framing.h"
#include "agentd/inputs/http_handler.h"
#include "fuzz/fuzz_checks.h"
#include "logctl/schema/pipeline_config.h"

using namespace logctl;
using namespace logctl::agentd;

namespace {

const char* kSources[] = {
    "",
    " add_http_headers true\n add_query_params true\n add_remote_addr true\n"
    " add_tag_prefix pre\n cors_allow_origins [\"http://a.example\", \"http://*.b.example\"]\n"
    " cors_allow_credentials true\n use_204_response true\n",
    " respond_with_empty_img true\n <parse>\n  @type none\n </parse>\n",
    " <parse>\n  @type regexp\n  expression /^(?<k>\\w+)=(?<v>.*)$/\n </parse>\n",
    " <parse>\n  @type in_http\n keep_time_key true\n </parse>\n",
};

struct Accept final : Emitter {
  Status emit(EventBatch& b) override {
    b.clear();
    return {};
  }
};

struct Case {
  config::PipelineConfig cfg;
  std::unique_ptr<MessageHandler> handler;
};

std::vector<Case>& cases() {
  static Metrics metrics;
  static Accept accept;
  static SystemClock clock;
  static std::vector<Case> all = [] {
    std::vector<Case> v;
    v.reserve(std::size(kSources));  // a handler may refer into its config: no moves
    for (const char* body : kSources) {
      auto tree = config::parse_string(std::string("<source>\n @type http\n port 9880\n") + body +
                                           "</source>\n<match **>\n @type null\n</match>\n",
                                       "fuzz.conf");
      if (!tree) __builtin_trap();
      auto cfg = config::validate(*tree);
      if (!cfg) __builtin_trap();
      Case& c = v.emplace_back(Case{std::move(*cfg), nullptr});
      HandlerOptions o;
      o.id = "in_http";
      o.type = "http";
      const auto& src = c.cfg.sources[0];
      auto h = http_options(src);
      if (!h) __builtin_trap();
      h->decompression_limit = 1 << 20;
      InputContext ctx{accept, clock, metrics, "/nonexistent", {}, nullptr};
      auto handler = make_http_handler(src, o, *h, ctx);
      if (!handler) __builtin_trap();
      c.handler = std::move(*handler);
    }
    return v;
  }();
  return all;
}

struct Run {
  std::vector<std::string> frames;
  std::vector<std::string> replies;
  bool failed = false;
};

Run run(std::string_view in, std::size_t cut) {
  Run r;
  FrameSplitter split(Framing::kHttp, "", 4096);
  for (std::string_view part : {in.substr(0, cut), in.substr(cut)}) {
    if (r.failed) break;
    auto st = split.feed(part, [&](std::string_view f) { r.frames.emplace_back(f); });
    if (auto reply = split.take_reply(); !reply.empty()) r.replies.push_back(reply);
    if (!st) r.failed = true;
  }
  return r;
}

void check_response(std::string_view r) {
  if (!r.starts_with("HTTP/1.1 ") || r.find("\r\n\r\n") == std::string_view::npos) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static bool quiet = (log::set_level(log::Level::kFatal), true);
  (void)quiet;
  auto& all = cases();
  Case& c = all[data[0] % all.size()];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t cut = in.empty() ? 0 : (data[0] * 31u) % (in.size() + 1);
  Run whole = run(in, in.size()), parts = run(in, cut);
  // Incremental framing: where the bytes were cut changes nothing (the
  // 100 Continue of a head completed in the first part aside).
  if (whole.frames != parts.frames || whole.failed != parts.failed) __builtin_trap();
  for (const auto& r : parts.replies) check_response(r);
  BatchSet out;
  Peer peer{"127.0.0.1", "localhost"};
  for (const auto& f : whole.frames) {
    if (f.size() > 2 * 4096 + (128 << 10) + in.size()) __builtin_trap();
    c.handler->handle(f, peer, EventTime{1'700'000'000'000'000'000}, out);
  }
  for (auto& b : out.batches()) {
    if (b.entries.empty()) continue;
    if (b.tag.empty() || b.tag.size() > 1024 + 4) __builtin_trap();
    fuzz::check_batch(b);
  }
  for (const auto& r : out.replies) check_response(r);
  return 0;
}
