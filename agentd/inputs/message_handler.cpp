#include "agentd/inputs/message_handler.h"

#include <charconv>

namespace logctl::agentd {
namespace {

class ExtraFields {
 public:
  ExtraFields() = default;
  ExtraFields(const HandlerOptions& o, const Peer& peer) { source(o, peer); }
  // Fluentd's order: the address, then the name.
  void source(const HandlerOptions& o, const Peer& peer) {
    if (!o.source_address_key.empty()) add(o.source_address_key, peer.address);
    if (!o.source_hostname_key.empty()) add(o.source_hostname_key, peer.hostname);
  }
  void add(std::string_view k, std::string_view v) { fields_[n_++] = Extra{k, v}; }
  std::span<const Extra> span() const { return {fields_, n_}; }

 private:
  Extra fields_[4];
  std::size_t n_ = 0;
};

class LineHandler final : public MessageHandler {
 public:
  LineHandler(const config::Section& src, std::unique_ptr<Parser> p, HandlerOptions o,
              const InputContext& ctx)
      : parser_(std::move(p)),
        o_(std::move(o)),
        c_(ctx.metrics, o_.id, o_.type),
        unmatched_(src, ctx, c_) {}

  void handle(std::string_view msg, const Peer& peer, EventTime now, BatchSet& out) override {
    if (o_.remove_newline) {
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.remove_suffix(1);
    }
    ExtraFields extra(o_, peer);
    parse_or_unmatched(*parser_, msg, now, extra.span(), out, o_.tag, unmatched_);
  }

 private:
  std::unique_ptr<Parser> parser_;
  HandlerOptions o_;
  InputCounters c_;
  Unmatched unmatched_;
};

class SyslogHandler final : public MessageHandler {
 public:
  SyslogHandler(const config::Section& src, std::unique_ptr<Parser> other, HandlerOptions o,
                const InputContext& ctx)
      : other_(std::move(other)),
        o_(std::move(o)),
        unmatched_tag_(o_.tag + ".unmatched"),
        c_(ctx.metrics, o_.id, o_.type),
        unmatched_(src, ctx, c_),
        emit_unmatched_(src.flag("emit_unmatched_lines")) {
    const auto& parse = *src.child("parse");
    if (parse.type() == "syslog") opts_ = syslog_options(parse);
    opts_.with_priority = true;  // in_syslog always reads <PRI> for the tag
  }

  void handle(std::string_view msg, const Peer& peer, EventTime now, BatchSet& out) override {
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.remove_suffix(1);
    if (other_) return handle_other(msg, peer, now, out);
    auto m = parse_syslog(msg, now, opts_);
    if (!m) return unmatched(msg, m.error().message, peer, now, out);
    ExtraFields extra;  // in_syslog's order: severity, facility, then the source's keys
    if (!o_.severity_key.empty()) extra.add(o_.severity_key, syslog_severity_name(m->pri & 7));
    if (!o_.facility_key.empty()) extra.add(o_.facility_key, syslog_facility_name(m->pri >> 3));
    extra.source(o_, peer);
    pack_syslog(*m, IncludePri::kNo, extra.span(), out.for_tag(tag_for(m->pri)));
  }

 private:
  // A non-syslog <parse>: strip <PRI> for the tag, parse the rest.
  void handle_other(std::string_view msg, const Peer& peer, EventTime now, BatchSet& out) {
    int pri = -1;
    auto close = msg.find('>');
    if (!msg.empty() && msg[0] == '<' && close != std::string_view::npos && close <= 4) {
      auto [p, ec] = std::from_chars(msg.data() + 1, msg.data() + close, pri);
      if (ec != std::errc() || p != msg.data() + close || pri > 191) pri = -1;
    }
    if (pri < 0) return unmatched(msg, "no valid <PRI>", peer, now, out);
    std::string_view body = msg.substr(close + 1);
    ExtraFields extra(o_, peer);
    EventBatch& b = out.for_tag(tag_for(pri));
    if (auto s = other_->parse(body, now, extra.span(), b); !s) {
      unmatched(msg, s.error().message, peer, now, out);
    }
  }

  // in_syslog emits unmatched lines under "<tag>.unmatched"; @ERROR gets
  // them under the input's tag.
  void unmatched(std::string_view msg, const std::string& why, const Peer& peer, EventTime now,
                 BatchSet& out) {
    ExtraFields extra(o_, peer);
    unmatched_.handle(msg, "invalid syslog message: " + why, now, extra.span(), out,
                      emit_unmatched_ ? unmatched_tag_ : o_.tag);
  }

  const std::string& tag_for(int pri) {
    std::string& t = tags_[pri];
    if (t.empty()) {
      t = o_.tag + "." + syslog_facility_name(pri >> 3) + "." + syslog_severity_name(pri & 7);
    }
    return t;
  }

  std::unique_ptr<Parser> other_;
  HandlerOptions o_;
  std::string unmatched_tag_;
  SyslogOptions opts_;
  std::string tags_[192];
  InputCounters c_;
  Unmatched unmatched_;
  bool emit_unmatched_;
};

}  // namespace

Result<std::unique_ptr<MessageHandler>> make_line_handler(const config::Section& source,
                                                          HandlerOptions o,
                                                          const InputContext& ctx) {
  auto p = make_parser(*source.child("parse"));
  if (!p) return std::unexpected(p.error());
  return std::make_unique<LineHandler>(source, std::move(*p), std::move(o), ctx);
}

Result<std::unique_ptr<MessageHandler>> make_syslog_handler(const config::Section& source,
                                                            HandlerOptions o,
                                                            const InputContext& ctx) {
  const auto& parse = *source.child("parse");
  std::unique_ptr<Parser> other;
  if (parse.type() != "syslog") {
    auto p = make_parser(parse);
    if (!p) return std::unexpected(p.error());
    other = std::move(*p);
  }
  return std::make_unique<SyslogHandler>(source, std::move(other), std::move(o), ctx);
}

}  // namespace logctl::agentd
