#include "agentd/inputs/tail_input.h"

#include <ctime>

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>

#include <asio.hpp>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <thread>

#include "agentd/core/log.h"
#include "agentd/parsers/parser.h"
#include "agentd/platform/fs.h"
#include "logctl/schema/values.h"

namespace logctl::agentd {
namespace {

using std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(100);
// Per file per poll. A poll follows at once while a file has more, so this
// bounds a batch (and the memory it keeps: ~2.3 MiB of packed events, within
// the input thread's batch pool), not the rate.
constexpr std::size_t kReadPerPoll = 2 << 20;
constexpr std::size_t kDefaultMaxLine = 16 << 20;
constexpr std::uint64_t kUnwatched = ~std::uint64_t{0};  // Fluentd's pos file marker

struct Watched {
  std::string path;
  fs::File file;
  ino_t inode = 0;
  std::uint64_t offset = 0;  // everything before it was emitted
  // Lines before it were emitted already though `offset` is earlier (an open
  // containerd partial run is read again): they are not emitted twice.
  std::uint64_t emitted_until = 0;
  // The end of the data seen so far and when it last grew (multiline_flush_interval).
  std::uint64_t seen_end = 0;
  steady_clock::time_point grew_at = steady_clock::now();
  bool rotated = false;
  steady_clock::time_point rotated_at;
  // The path no longer exists (a container's log deleted): since when.
  std::optional<steady_clock::time_point> gone_since;
};

// Which symlinks a tail follows (agentd reads as root; a link is how another
// user would make it ship a file they cannot read):
enum class FollowSymlinks {
  kTrusted,  // links owned by root or agentd's user (kubelet's /var/log/containers)
  kAlways,   // any link (Fluentd's behaviour)
  kNever,    // no link
};

struct Settings {
  std::string id;
  std::vector<std::string> paths;
  std::vector<std::string> exclude;
  std::string tag;
  std::string path_key;
  std::string pos_file;
  bool read_from_head = false;
  double refresh_interval = 60;
  double rotate_wait = 5;
  std::size_t max_line = kDefaultMaxLine;
  bool follow_inodes = false;
  std::optional<double> limit_recently_modified;  // seconds
  bool path_utc = false;                          // path_timezone: strftime in UTC
  bool cri_join = false;                          // <parse> @type cri: join P parts
  std::optional<double> multiline_flush;          // multiline_flush_interval, seconds
  FollowSymlinks follow_symlinks = FollowSymlinks::kTrusted;
};

// Fluentd expands strftime fields in a tail path (/var/log/app-%Y%m%d.log)
// with the current time at every refresh.
std::string strftime_path(const std::string& pattern, bool utc) {
  if (pattern.find('%') == std::string::npos) return pattern;
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  if (utc) {
    gmtime_r(&now, &tm);
  } else {
    localtime_r(&now, &tm);
  }
  std::string out(pattern.size() + 256, '\0');
  std::size_t n = std::strftime(out.data(), out.size(), pattern.c_str(), &tm);
  if (n == 0) return pattern;
  out.resize(n);
  return out;
}

class TailInput final : public Input {
 public:
  TailInput(const config::Section& src, Settings s, std::unique_ptr<Parser> p, InputContext ctx)
      : cri_join_(s.cri_join),
        lines_(p->lines()),
        s_(std::move(s)),
        parser_(std::move(p)),
        ctx_(ctx),
        c_(ctx.metrics, s_.id, "tail"),
        g_files_(ctx.metrics.gauge("agentd_tail_watched_files", "Files being followed.",
                                   {{"plugin_id", s_.id}})),
        c_rotations_(ctx.metrics.counter("agentd_tail_rotations_total",
                                         "Rotations (rename or truncate) detected.",
                                         {{"plugin_id", s_.id}})),
        c_refused_links_(
            ctx.metrics.counter("agentd_tail_refused_symlinks_total",
                                "Symbolic links not followed under the follow_symlinks policy.",
                                {{"plugin_id", s_.id}})),
        unmatched_(src, ctx, c_) {}
  ~TailInput() override { stop(); }

  Status start(Reading) override {
    if (!s_.pos_file.empty()) {
      if (auto st = load_positions(); !st) return st;
    }
    refresh(/*startup=*/true);
    tick_ = asio::steady_timer(io_);
    schedule();
    thread_ = std::thread([this] { io_.run(); });
    log::info("input " + s_.id + ": tailing " + std::to_string(active_.size()) + " file(s)");
    return {};
  }

  void stop() override {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      stopping_ = true;
      tick_->cancel();
      poll();  // last read
      dirty_ = true;
      save_positions(fs::Sync::kYes);  // the next worker starts from here
      io_.stop();
    });
    thread_.join();
  }

 private:
  // Every tick, or at once while a file has more than one poll reads
  // (kReadPerPoll per file) and the buffer takes what is read: a tick-paced
  // reader could never go past 80 MiB/s however fast the rest is.
  void schedule(steady_clock::duration delay = kTick) {
    tick_->expires_after(delay);
    tick_->async_wait([this](const asio::error_code& ec) {
      if (ec || stopping_) return;
      bool behind = poll();
      schedule(behind ? steady_clock::duration::zero() : kTick);
    });
  }

  // Reads every file; true when one has more to read right away.
  bool poll() {
    auto now = steady_clock::now();
    bool behind = false;
    refused_ = false;
    if (now - last_refresh_ >= std::chrono::duration<double>(s_.refresh_interval)) refresh(false);
    for (auto& [path, w] : active_) check_rotation(w);
    for (auto it = active_.begin(); it != active_.end();) {
      Watched& w = it->second;
      // A deleted file is read to its end, then released after rotate_wait
      // (its descriptor closed, its pos_file entry dropped).
      bool last =
          w.gone_since && now - *w.gone_since >= std::chrono::duration<double>(s_.rotate_wait);
      bool at_end = read(w, last);
      behind = behind || !at_end;
      if (last && at_end) {
        log::info("input " + s_.id + ": " + w.path + " no longer exists; released");
        positions_.erase(w.path);
        dirty_ = true;
        it = active_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = rotated_.begin(); it != rotated_.end();) {
      bool last = now - it->rotated_at >= std::chrono::duration<double>(s_.rotate_wait);
      bool at_end = read(*it, last);
      behind = behind || !at_end;
      if (at_end && last) {
        it = rotated_.erase(it);
      } else {
        ++it;
      }
    }
    g_files_ = static_cast<std::int64_t>(active_.size() + rotated_.size());
    // Positions at most once a tick, also while catching up.
    if (steady_clock::now() - saved_at_ >= kTick) {
      save_positions();
      saved_at_ = steady_clock::now();
    }
    return behind && !refused_;
  }

  std::vector<std::string> expand() const {
    std::vector<std::string> out;
    auto now = std::time(nullptr);
    for (const auto& raw : s_.paths) {
      std::string pattern = strftime_path(raw, s_.path_utc);
      glob_t g{};
      if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
        for (std::size_t i = 0; i < g.gl_pathc; ++i) {
          std::string p = g.gl_pathv[i];
          if (s_.limit_recently_modified) {  // only files written lately
            struct stat st {};
            if (::stat(p.c_str(), &st) == 0 &&
                static_cast<double>(now - st.st_mtime) > *s_.limit_recently_modified) {
              continue;
            }
          }
          bool excluded = false;
          for (const auto& ex : s_.exclude) {
            glob_t e{};
            if (glob(ex.c_str(), 0, nullptr, &e) == 0) {
              for (std::size_t k = 0; k < e.gl_pathc; ++k) excluded |= p == e.gl_pathv[k];
            }
            globfree(&e);
          }
          if (!excluded) out.push_back(p);
        }
      }
      globfree(&g);
    }
    return out;
  }

  // Opens a log file under the follow_symlinks policy.
  Result<fs::File> open_log(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0)
      return std::unexpected(fs::errno_error("stat", path, errno));
    if (!S_ISLNK(st.st_mode)) return fs::File::open(path, O_RDONLY);  // O_NOFOLLOW: no swap
    bool trusted_owner = st.st_uid == 0 || st.st_uid == ::geteuid();
    if (s_.follow_symlinks == FollowSymlinks::kNever ||
        (s_.follow_symlinks == FollowSymlinks::kTrusted && !trusted_owner)) {
      ++c_refused_links_;
      return make_error(ErrorCode::kInvalidArgument,
                        path + " is a symbolic link owned by uid " + std::to_string(st.st_uid) +
                            "; not followed (follow_symlinks " +
                            (s_.follow_symlinks == FollowSymlinks::kNever ? "never" : "trusted") +
                            ")");
    }
    return fs::File::open(path, O_RDONLY, 0, fs::Follow::kYes);
  }

  void refresh(bool startup) {
    last_refresh_ = steady_clock::now();
    for (const auto& p : expand()) {
      if (active_.count(p)) continue;
      auto f = open_log(p);
      if (!f) {
        perm_log_.write(log::Level::kWarn, "input " + s_.id + ": " + f.error().message);
        continue;
      }
      struct stat st {};
      if (::fstat(f->fd(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      Watched w;
      w.path = p;
      w.inode = st.st_ino;
      auto saved = positions_.find(p);
      if (saved != positions_.end() && saved->second.first == st.st_ino &&
          saved->second.second <= static_cast<std::uint64_t>(st.st_size)) {
        w.offset = saved->second.second;
      } else if (saved != positions_.end() && startup &&
                 adopt_rotated(p, saved->second.first, saved->second.second)) {
        w.offset = 0;  // rotated while nobody read: finish the old file, then all of this one
      } else if (startup && !s_.read_from_head) {
        w.offset = static_cast<std::uint64_t>(st.st_size);
      }
      w.file = std::move(*f);
      log::info("input " + s_.id + ": following " + p + " from offset " + std::to_string(w.offset));
      active_.emplace(p, std::move(w));
    }
  }

  // The file a saved position points to was renamed away while no process
  // tailed it (a restart, a handover): find it next to `path` by inode and
  // finish it from the saved offset.
  bool adopt_rotated(const std::string& path, ino_t inode, std::uint64_t offset) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1);
    auto names = fs::list_dir(dir);
    if (!names) return false;
    std::string found;
    for (const auto& name : *names) {
      if (name == base || name.rfind(base, 0) != 0) continue;
      struct stat st {};
      if (::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          st.st_ino == inode && static_cast<std::uint64_t>(st.st_size) >= offset) {
        found = dir + "/" + name;
      }
    }
    if (found.empty()) return false;
    auto f = open_log(found);
    if (!f) return false;
    Watched old;
    old.path = path;
    old.inode = inode;
    old.offset = offset;
    old.file = std::move(*f);
    old.rotated = true;
    old.rotated_at = steady_clock::now();
    log::info("input " + s_.id + ": " + path + " was rotated to " + found +
              " while not tailed; finishing it from offset " + std::to_string(offset));
    ++c_rotations_;
    rotated_.push_back(std::move(old));
    return true;
  }

  void check_rotation(Watched& w) {
    struct stat path_st {};
    bool exists = ::stat(w.path.c_str(), &path_st) == 0;
    if (!exists && !w.gone_since) w.gone_since = steady_clock::now();
    if (exists) w.gone_since.reset();
    if (exists && path_st.st_ino == w.inode) {
      struct stat fd_st {};
      if (::fstat(w.file.fd(), &fd_st) == 0 &&
          static_cast<std::uint64_t>(fd_st.st_size) < w.offset) {
        ++c_rotations_;
        log::info("input " + s_.id + ": " + w.path + " was truncated; reading from its head");
        w.offset = 0;
        w.emitted_until = 0;  // new content: nothing of it was emitted
      }
      return;
    }
    if (!exists) return;  // moved away, nothing new yet: keep reading the old file
    // Renamed away and replaced: finish the old file, start the new one at 0.
    ++c_rotations_;
    log::info("input " + s_.id + ": " + w.path + " was rotated; following the new file");
    auto f = open_log(w.path);
    if (!f) return;
    Watched old = std::move(w);
    old.rotated = true;
    old.rotated_at = steady_clock::now();
    w = Watched{};
    w.path = old.path;
    w.inode = path_st.st_ino;
    w.file = std::move(*f);
    rotated_.push_back(std::move(old));
  }

  std::string tag_for(const std::string& path) const {
    auto star = s_.tag.find('*');
    if (star == std::string::npos) return s_.tag;
    std::string p = path;
    for (auto& c : p) {
      if (c == '/') c = '.';
    }
    while (!p.empty() && p[0] == '.') p.erase(0, 1);
    return s_.tag.substr(0, star) + p + s_.tag.substr(star + 1);
  }

  // Reads complete lines from the position; returns true when at EOF.
  // `finish`: the file is read for the last time (rotated away): a joined
  // event still open at its end goes out as it is.
  bool read(Watched& w, bool finish = false) {
    std::uint64_t pos = w.offset;
    std::size_t budget = kReadPerPoll;
    BatchSet& batches = batches_;
    batches.clear();  // what a refused emit left was read again from the position
    const std::string tag = tag_for(w.path);
    Out b{batches, tag};
    EventTime now = ctx_.clock.now();
    std::uint64_t consumed = w.offset;
    bool at_end = false;
    std::string carry;
    bool skipping = false;
    Join join;
    std::uint64_t emitted = w.emitted_until;  // kept only if the batch is taken
    while (budget > 0) {
      auto n = w.file.pread(buf_.data(), buf_.size(), pos);
      if (!n || *n == 0) {
        at_end = true;
        break;
      }
      pos += *n;
      budget -= std::min(budget, *n);
      std::string_view data(buf_.data(), *n);
      std::size_t start = 0;
      for (std::size_t nl; (nl = data.find('\n', start)) != std::string_view::npos;
           start = nl + 1) {
        std::string_view piece = data.substr(start, nl - start);
        std::uint64_t line_start = pos - *n + start - carry.size();
        std::uint64_t line_end = pos - *n + nl + 1;
        bool replay = joins() && line_start < emitted;
        if (skipping) {
          skipping = false;
        } else if (!carry.empty()) {
          carry.append(piece);
          line(carry, line_start, w.path, now, b, join, replay);
          carry.clear();
        } else {
          line(piece, line_start, w.path, now, b, join, replay);
        }
        emitted = std::max(emitted, line_end);
        // A containerd partial run not yet finished is read again next time.
        consumed = join.pending() ? join.start() : line_end;
      }
      if (!skipping) carry.append(data.substr(start));
      if (carry.size() > s_.max_line) {
        ++c_.oversized;
        oversize_log_.write(log::Level::kWarn, "input " + s_.id + ": line in " + w.path +
                                                   " longer than max_line_size skipped");
        carry.clear();
        skipping = true;
      }
    }
    if (skipping) consumed = pos;  // the skipped part of an overlong line stays skipped
    if (at_end) {
      auto now_steady = steady_clock::now();
      if (pos > w.seen_end) {
        w.seen_end = pos;
        w.grew_at = now_steady;
      }
      // multiline_flush_interval: the last event is complete when nothing
      // came for that long.
      if (join.multi.open &&
          (finish || (s_.multiline_flush && now_steady - w.grew_at >= std::chrono::duration<double>(
                                                                          *s_.multiline_flush)))) {
        emit_line(join.multi.message, w.path, now, b);
        join.multi.open = false;
        consumed = join.pending() ? join.start() : join.multi_end;
      }
      for (auto& run : join.runs) {
        if (finish && run.open) {
          emit_line(run.head + "P " + run.message, w.path, now, b);
          run.open = false;
          consumed = pos - carry.size();
        }
      }
    }
    c_.bytes += consumed - w.offset;
    std::size_t events = batches.events();
    if (auto st = batches.emit_to(ctx_.emitter, ctx_.errors); !st) {
      ++c_.paused;
      pause_log_.write(log::Level::kWarn, "input " + s_.id + ": " + st.error().message +
                                              "; will re-read " + w.path + " from offset " +
                                              std::to_string(w.offset));
      refused_ = true;
      return false;  // position unchanged: the same lines are read again next tick
    }
    c_.records += events;
    w.emitted_until = emitted;
    if (consumed != w.offset) dirty_ = true;
    w.offset = consumed;
    return at_end;
  }

  // containerd/CRI-O split lines longer than their buffer into "P" parts
  // and a final "F": with a cri <parse>, tail joins each stream's parts into
  // one line before parsing. A run still open is not consumed (its position
  // is where it began), so a handover or restart reads it again; a run over
  // max_line_size is emitted as it is (logtag P) and counted as oversized.
  //
  // A multiline <parse> joins lines the same way: the event being gathered
  // is an open run, not consumed until a later first line (or
  // multiline_flush_interval) ends it.
  struct Join {
    struct Run {
      std::string head;  // cri: "time stream " of the first part
      std::string message;
      std::uint64_t start = 0;
      bool open = false;
    };
    Run runs[2];                  // cri: stdout, stderr
    Run multi;                    // multiline
    std::uint64_t multi_end = 0;  // where the open multiline run's last line ends
    bool pending() const { return runs[0].open || runs[1].open || multi.open; }
    std::uint64_t start() const {
      std::uint64_t s = ~std::uint64_t{0};
      for (const Run* r : {&runs[0], &runs[1], &multi}) {
        if (r->open) s = std::min(s, r->start);
      }
      return s;
    }
  };
  bool joins() const { return cri_join_ || lines_ != Parser::Lines::kLine; }

  // `replay`: the line was handled by an earlier read (only the partial-run
  // bookkeeping is redone).
  struct Out {
    BatchSet& set;
    const std::string& tag;
  };

  void line(std::string_view text, std::uint64_t at, const std::string& path, EventTime now, Out& b,
            Join& join, bool replay) {
    auto emit = [&](std::string_view l) {
      if (!replay) emit_line(l, path, now, b);
    };
    if (lines_ != Parser::Lines::kLine) return multiline(text, at, path, now, b, join, replay);
    if (!cri_join_) {
      // Fluentd skips a line longer than max_line_size (and warns).
      if (text.size() > s_.max_line) {
        if (!replay) ++c_.oversized;
        oversize_log_.write(log::Level::kWarn, "input " + s_.id + ": line in " + path +
                                                   " longer than max_line_size skipped");
        return;
      }
      return emit(text);
    }
    // time SP stream SP logtag SP message
    auto s1 = text.find(' ');
    auto s2 = s1 == std::string_view::npos ? s1 : text.find(' ', s1 + 1);
    auto s3 = s2 == std::string_view::npos ? s2 : text.find(' ', s2 + 1);
    if (s3 == std::string_view::npos) return emit(text);
    std::string_view stream = text.substr(s1 + 1, s2 - s1 - 1);
    std::string_view tag = text.substr(s2 + 1, s3 - s2 - 1);
    Join::Run& run = join.runs[stream == "stderr" ? 1 : 0];
    std::string_view message = text.substr(s3 + 1);
    if (tag == "P") {
      if (!run.open) {
        run.open = true;
        run.start = at;
        run.head = std::string(text.substr(0, s2 + 1));
        run.message.clear();
      }
      run.message.append(message);
      if (run.message.size() > s_.max_line) {  // give up joining: as it is
        if (!replay) ++c_.oversized;
        emit(run.head + "P " + run.message);
        run.open = false;
      }
      return;
    }
    if (!run.open) return emit(text);
    run.message.append(message);
    emit(run.head + std::string(tag) + " " + run.message);
    run.open = false;
  }

  // Fluentd's in_tail with a multiline parser: with format_firstline, a first
  // line ends the event gathered so far and starts the next; lines before
  // any first line are unmatched. Without it, lines join until the joined
  // text parses. An event over max_line_size goes out as it is (counted).
  void multiline(std::string_view text, std::uint64_t at, const std::string& path, EventTime now,
                 Out& b, Join& join, bool replay) {
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    Join::Run& run = join.multi;
    auto line_end = at + text.size() + 1;
    if (lines_ == Parser::Lines::kFirstline) {
      if (parser_->firstline(text)) {
        if (run.open && !replay) emit_line(run.message, path, now, b);
        run.open = true;
        run.start = at;
        run.message.assign(text);
      } else if (run.open) {
        run.message.push_back('\n');
        run.message.append(text);
      } else {
        if (!replay) emit_line(text, path, now, b);  // before any first line: unmatched
        return;
      }
    } else {
      if (!run.open) {
        run.open = true;
        run.start = at;
        run.message.clear();
      } else {
        run.message.push_back('\n');
      }
      run.message.append(text);
      // A failed parse packs nothing: the run goes on with the next line.
      Extra slot;
      if (!replay &&
          parser_->parse(run.message, now, path_extra(path, slot), b.set.for_tag(b.tag))) {
        run.open = false;
      }
    }
    join.multi_end = line_end;
    if (run.open && run.message.size() > s_.max_line) {  // give up joining: as it is
      if (!replay) {
        ++c_.oversized;
        emit_line(run.message, path, now, b);
      }
      run.open = false;
    }
  }

  // path_key's field, in `slot`.
  std::span<const Extra> path_extra(const std::string& path, Extra& slot) const {
    if (s_.path_key.empty()) return {};
    slot = Extra{s_.path_key, path};
    return {&slot, 1};
  }

  void emit_line(std::string_view line, const std::string& path, EventTime now, Out& b) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Extra slot;
    parse_or_unmatched(*parser_, line, now, path_extra(path, slot), b.set, b.tag, unmatched_);
  }

  // Fluentd's pos file: "path<TAB>offset<TAB>inode", both 16 hex digits;
  // offset ffffffffffffffff marks a file Fluentd no longer watches. agentd
  // before 0.2 wrote inode before offset: such a line is recognised by the
  // file's current inode and rewritten in Fluentd's order at the next save.
  Status load_positions() {
    auto text = fs::read_file(s_.pos_file);
    if (!text)
      return text.error().code == ErrorCode::kNotFound ? Status{}
                                                       : Status(std::unexpected(text.error()));
    std::size_t start = 0, legacy = 0;
    while (start < text->size()) {
      auto end = text->find('\n', start);
      std::string line = text->substr(start, end == std::string::npos ? end : end - start);
      start = end == std::string::npos ? text->size() : end + 1;
      auto t1 = line.find('\t'), t2 = line.rfind('\t');
      if (t1 == std::string::npos || t2 == t1) continue;
      std::uint64_t off = 0, inode = 0;
      if (!parse_hex(line.substr(t1 + 1, t2 - t1 - 1), off) ||
          !parse_hex(line.substr(t2 + 1), inode)) {
        log::warn("input " + s_.id + ": ignoring bad line in pos_file " + s_.pos_file);
        continue;
      }
      if (off == kUnwatched) continue;
      std::string path = line.substr(0, t1);
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_ino) == off &&
          static_cast<std::uint64_t>(st.st_ino) != inode) {
        std::swap(off, inode);  // the old agentd order
        ++legacy;
      }
      positions_[path] = {static_cast<ino_t>(inode), off};
    }
    if (legacy > 0) {
      log::info("input " + s_.id + ": pos_file " + s_.pos_file + " had " + std::to_string(legacy) +
                " entr(ies) in agentd's old column order; rewriting " +
                "them in Fluentd's (path, offset, inode)");
    }
    return {};
  }

  static bool parse_hex(const std::string& s, std::uint64_t& out) {
    if (s.empty() || s.size() > 16) return false;
    char* end = nullptr;
    errno = 0;
    out = std::strtoull(s.c_str(), &end, 16);
    return errno == 0 && end == s.c_str() + s.size();
  }

  void save_positions(fs::Sync sync = fs::Sync::kNo) {
    if (s_.pos_file.empty() || !dirty_) return;
    std::string out;
    char line[64];
    for (const auto& [path, w] : active_) {
      std::snprintf(line, sizeof line, "\t%016" PRIx64 "\t%016" PRIx64 "\n", w.offset,
                    static_cast<std::uint64_t>(w.inode));
      out += path + line;
    }
    if (auto st = fs::write_file_atomic(s_.pos_file, out, sync); !st) {
      pos_log_.write(log::Level::kError, "input " + s_.id + ": " + st.error().message);
      return;
    }
    dirty_ = false;
  }

  bool cri_join_;
  Parser::Lines lines_;
  Settings s_;
  std::unique_ptr<Parser> parser_;
  InputContext ctx_;
  asio::io_context io_{1};
  std::optional<asio::steady_timer> tick_;
  std::thread thread_;
  bool stopping_ = false;
  bool dirty_ = true;
  bool refused_ = false;  // the buffer refused a batch in this poll: wait a tick
  steady_clock::time_point saved_at_;
  steady_clock::time_point last_refresh_;
  std::map<std::string, Watched> active_;
  std::vector<Watched> rotated_;
  std::map<std::string, std::pair<ino_t, std::uint64_t>> positions_;
  std::vector<char> buf_ = std::vector<char>(1 << 20);
  BatchSet batches_;  // one read's events (reused: its memory stays)
  InputCounters c_;
  std::atomic<std::int64_t>& g_files_;
  std::atomic<std::uint64_t>& c_rotations_;
  std::atomic<std::uint64_t>& c_refused_links_;
  Unmatched unmatched_;
  log::RateLimited perm_log_, oversize_log_, pause_log_, pos_log_;
};

}  // namespace

Result<std::unique_ptr<Input>> make_tail_input(const config::Section& src, InputContext ctx) {
  Settings s;
  s.id = src.id();
  for (auto& p : config::parse_array(src.str("path")).value_or(std::vector<std::string>{})) {
    s.paths.push_back(p);
  }
  s.exclude = src.array("exclude_path");
  s.tag = src.str("tag");
  s.path_key = src.str("path_key");
  s.pos_file = src.str("pos_file");
  s.read_from_head = src.flag("read_from_head");
  s.refresh_interval = src.number("refresh_interval");
  s.rotate_wait = src.number("rotate_wait");
  s.follow_inodes = src.flag("follow_inodes");
  if (s.follow_inodes && src.str("pos_file").empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      src.where().str() + ": follow_inodes needs pos_file (as in Fluentd)");
  }
  if (src.is_set("limit_recently_modified")) {
    s.limit_recently_modified = src.number("limit_recently_modified");
  }
  std::string tz = src.str("path_timezone");
  s.path_utc = tz == "UTC" || tz == "+00:00" || tz == "+0000" || tz == "Z";
  std::string follow = src.str("follow_symlinks");
  s.follow_symlinks = follow == "always"  ? FollowSymlinks::kAlways
                      : follow == "never" ? FollowSymlinks::kNever
                                          : FollowSymlinks::kTrusted;
  if (src.is_set("max_line_size")) s.max_line = src.size("max_line_size");
  if (s.paths.empty()) {
    return make_error(ErrorCode::kInvalidArgument, src.where().str() + ": tail needs a path");
  }
  s.cri_join = src.child("parse")->type() == "cri";
  if (src.is_set("multiline_flush_interval")) {
    s.multiline_flush = src.number("multiline_flush_interval");
  }
  auto p = make_parser(*src.child("parse"));
  if (!p) return std::unexpected(p.error());
  return std::make_unique<TailInput>(src, std::move(s), std::move(*p), ctx);
}

}  // namespace logctl::agentd
