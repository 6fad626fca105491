// Where the controller is and how to talk to it.
//
// Settings (server URL, admin token, CA certificate) come from flags, then the
// environment (LOGCTL_SERVER, LOGCTL_TOKEN, LOGCTL_CA), then the config file
// (LOGCTL_CONFIG, else $XDG_CONFIG_HOME/logctl/config, else
// ~/.config/logctl/config), each value on its own: a flag overrides only
// itself. The file holds named contexts (docs/cli.md); --context picks one,
// else LOGCTL_CONTEXT, else the file's current_context.
//
// Client speaks the controller's JSON API over HTTPS with the CA pinned (a
// plain http:// URL only for --insecure-http controllers on loopback). The
// server may be several controllers sharing one database, "URL1,URL2,URL3":
// a request that cannot connect, or that a follower refuses (503
// not_leader), goes to the leader it names when that is listed, else to the
// next one; a GET is also retried after a broken answer (a POST is not:
// it may have been done). Every
// call is bounded by connect and read timeouts; an error is an ApiFailure
// carrying the HTTP status (0: no answer), the API's stable code and message.
//
// Thread safety: a Client is used from one thread.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "logctl/schema/result.h"

namespace httplib {
class Client;
}

namespace logctl::cli {

using nlohmann::json;

struct GlobalFlags {
  std::string server, token, token_file, ca, context;
  std::string output = "table";  // table | json | ndjson
  int timeout_s = 30;            // per request
};

struct Settings {
  std::string server, token, ca;
  std::string context;  // the context used, when one was
  std::string where;    // where the server came from: "--server", "LOGCTL_SERVER", "context X"
};

// The config file's path (it need not exist).
std::string config_path();
// The whole config file: {"current_context": "...", "contexts": {NAME: {...}}};
// an empty document when it does not exist.
Result<json> read_config_file();
// Writes it 0600 through a temporary file and rename (parent created 0700).
Status write_config_file(const json& doc);
Result<Settings> resolve_settings(const GlobalFlags& f);
// Reads a secret from a file: trimmed, at most 4 KiB, never echoed.
Result<std::string> read_secret_file(const std::string& path);

struct ApiFailure {
  int http = 0;  // 0: no answer (refused, TLS failure, timeout)
  std::string code, message;
  json details = json::object();
  Exit exit() const { return exit_for(http); }
};
using ApiReply = std::expected<json, ApiFailure>;

class Client {
 public:
  Client(Settings s, int timeout_s);
  ~Client();
  ApiReply get(const std::string& path);
  ApiReply post(const std::string& path, const json& body);
  ApiReply post_text(const std::string& path, const std::string& body);
  // multipart: "manifest" (JSON text) and "artifact" (the file's bytes).
  ApiReply post_release(const std::string& manifest, const std::string& artifact);
  const Settings& settings() const { return s_; }

 private:
  template <typename F>
  ApiReply call(const char* what, const std::string& path, F&& send);
  template <typename F>
  ApiReply call_one(const char* what, const std::string& path, F& send, bool& try_next);
  void connect(std::size_t i);
  Settings s_;
  std::vector<std::string> servers_;  // from s_.server
  std::size_t current_ = 0;
  int timeout_s_;  // the whole request, connect to last byte (a watchdog stops it)
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace logctl::cli
