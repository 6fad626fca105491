#include "agentd/supervisor/config_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agentd/core/log.h"
#include "agentd/platform/fs.h"
#include "logctl/schema/digest.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {
namespace {

constexpr std::uint32_t kEvents = IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |
                                  IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;

std::string dir_of(const std::string& path) {
  auto p = std::filesystem::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

}  // namespace

Result<std::unique_ptr<ConfigWatch>> ConfigWatch::open(const std::string& config) {
  config::ConfigSources sources;
  auto cfg = config::load_pipeline(config, nullptr, &sources);
  if (!cfg) return std::unexpected(cfg.error());
  if (sources.patterns.empty() || !cfg->system.flag("config_watch")) return nullptr;
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return std::unexpected(fs::errno_error("inotify_init1", config, errno));
  auto delay = std::chrono::milliseconds(
      static_cast<std::int64_t>(cfg->system.number("config_watch_delay") * 1000));
  std::unique_ptr<ConfigWatch> w(new ConfigWatch(config, fd, delay));
  w->applied_ = w->snapshot();
  log::info("config watch: " + std::to_string(w->dirs_.size()) + " director" +
            (w->dirs_.size() == 1 ? "y" : "ies") + " of " + config +
            " and its @include files watched; a change reloads after " +
            std::to_string(delay.count()) + " ms");
  return w;
}

ConfigWatch::~ConfigWatch() {
  if (fd_ >= 0) ::close(fd_);
}

// Whether the config parses does not matter here: a broken file is content
// too (the reload then reports why it is refused).
std::string ConfigWatch::scan() {
  config::ConfigSources sources;
  (void)config::parse_file(config_, nullptr, &sources);
  wanted_.clear();
  std::string all;
  for (const auto& f : sources.files) {
    wanted_.insert(dir_of(f));
    auto text = fs::read_file(f);
    all += f;
    all.push_back('\0');
    all += text ? *text : "<unreadable: " + text.error().message + ">";
    all.push_back('\0');
  }
  for (const auto& p : sources.patterns) {
    // The directory part of the pattern (a glob in it: its fixed prefix).
    std::string dir = dir_of(p);
    while (dir.find_first_of("*?[") != std::string::npos) dir = dir_of(dir);
    wanted_.insert(dir);
  }
  return digest::sha256_hex(all);
}

void ConfigWatch::watch_dirs() {
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (wanted_.contains(it->first)) {
      ++it;
      continue;
    }
    ::inotify_rm_watch(fd_, it->second);
    it = dirs_.erase(it);
  }
  for (const auto& dir : wanted_) {
    if (dirs_.contains(dir)) continue;
    int wd = ::inotify_add_watch(fd_, dir.c_str(), kEvents);
    if (wd < 0) {
      log::warn("config watch: cannot watch " + dir + ": " + std::strerror(errno));
      continue;
    }
    dirs_[dir] = wd;
  }
}

void ConfigWatch::on_readable() {
  alignas(inotify_event) char buf[16 * 1024];
  bool any = false;
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    any = true;
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
      if (e->mask & IN_IGNORED) {  // the directory went away: watched again at the next scan
        std::erase_if(dirs_, [&](const auto& d) { return d.second == e->wd; });
      }
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
  if (any) due_ = Clock::now() + delay_;  // every change pushes the reload back
}

bool ConfigWatch::changed() {
  due_.reset();
  return snapshot() != applied_;
}

std::string ConfigWatch::snapshot() {
  std::string fp = scan();
  watch_dirs();  // a directory may have appeared in (or left) the config
  return fp;
}

}  // namespace logctl::agentd
