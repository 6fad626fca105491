// Watches the files a config is made of — the file, every file its @include
// directives read, and the directories those directives glob — with inotify,
// and says when a reload is due: `delay` after the last change in any of
// those directories, and only when the content (the files read and their
// bytes) differs from what was last applied. A ConfigMap's atomic symlink
// swap, an editor's rename-into-place, a file added to or removed from
// conf.d: each is a change of content or of the file list.
//
// Used by the supervisor's main loop (one thread): poll fd(), call
// on_readable() when it is readable, and check() once due() has passed.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "logctl/schema/result.h"

namespace logctl::agentd {

class ConfigWatch {
 public:
  using Clock = std::chrono::steady_clock;
  // Watches what `config` is made of now; null (not an error) when it has no
  // @include or sets <system> config_watch false.
  static Result<std::unique_ptr<ConfigWatch>> open(const std::string& config);
  ~ConfigWatch();
  ConfigWatch(const ConfigWatch&) = delete;
  ConfigWatch& operator=(const ConfigWatch&) = delete;

  int fd() const { return fd_; }
  void on_readable();
  std::optional<Clock::time_point> due() const { return due_; }

  // Once due: re-reads the sources (re-arming the directory watches); true
  // when they differ from the last applied() fingerprint.
  bool changed();
  // The sources' fingerprint now (taken before a reload reads them).
  std::string snapshot();
  // `fingerprint` is what runs now (after a committed reload; also after a
  // refused one, so that the same content is not tried again until it changes).
  void applied(const std::string& fingerprint) { applied_ = fingerprint; }
  std::chrono::milliseconds delay() const { return delay_; }

 private:
  ConfigWatch(std::string config, int fd, std::chrono::milliseconds delay)
      : config_(std::move(config)), fd_(fd), delay_(delay) {}
  // Reads the sources: their fingerprint, and every directory to watch.
  std::string scan();
  void watch_dirs();

  std::string config_;
  int fd_;
  std::chrono::milliseconds delay_;
  std::optional<Clock::time_point> due_;
  std::map<std::string, int> dirs_;  // directory -> watch descriptor
  std::string applied_;              // fingerprint of what runs
  std::set<std::string> wanted_;     // directories the sources are in
};

}  // namespace logctl::agentd
