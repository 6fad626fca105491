// logctl release push BINARY | list: agentd releases the cluster can run.
// push runs `BINARY manifest` (the binary describes itself: version, formats,
// protocol, plugin schema) and uploads both; the controller hashes the bytes
// as they arrive and keeps them content-addressed.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli.h"

namespace logctl::cli {

// Runs `binary manifest` without a shell; its stdout, bounded.
Result<std::string> agentd_manifest(const std::string& binary) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return make_error(ErrorCode::kIo, "pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) return make_error(ErrorCode::kIo, "fork failed");
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // nothing to read: no binary waits
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    const char* argv[] = {binary.c_str(), "manifest", nullptr};
    ::execv(binary.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) {
    if (text.size() < (4u << 20)) text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "`" + binary + " manifest` failed (is it an agentd binary?)");
  }
  // What an agentd binary prints: a JSON object naming itself and its version.
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object() || doc.value("name", "") != "agentd" || !doc.contains("version") ||
      !doc["version"].is_string()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "`" + binary +
                          " manifest` printed no agentd release manifest: is it an agentd "
                          "binary? (push the agentd you built, e.g. build/bin/agentd)");
  }
  return text;
}

namespace {

int push(Cli& cli, const std::string& binary) {
  if (::access(binary.c_str(), X_OK) != 0) {
    return fail(cli.format(), Exit::kUsage, "usage", binary + " is not an executable file");
  }
  auto manifest = agentd_manifest(binary);
  if (!manifest)
    return fail(cli.format(), Exit::kChecksFailed, "invalid_manifest", manifest.error().message);
  std::ifstream in(binary, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  auto client = cli.client();
  if (!client) return client.error();
  auto r = (*client)->post_release(*manifest, bytes.str());
  if (!r) return fail(cli.format(), r.error());
  if (cli.format() == Format::kTable) {
    Table t({"VERSION", "SHA256", "SIZE"});
    t.row({cell((*r)["version"]), cell((*r)["sha256"]), cell((*r)["size"])});
    t.print(std::cout);
  } else {
    print_json(*r);
  }
  return 0;
}

int list(Cli& cli) {
  auto client = cli.client();
  if (!client) return client.error();
  auto r = (*client)->get("/v1/releases");
  if (!r) return fail(cli.format(), r.error());
  if (cli.format() != Format::kTable) {
    print_json(*r);
    return 0;
  }
  Table t({"VERSION", "SHA256", "SIZE", "PUSHED"});
  for (auto rel : (*r)["releases"]) {
    t.row({cell(rel["version"]), cell(rel["sha256"]).substr(0, 16), cell(rel["size"]),
           when(rel.value("created_at", std::int64_t{0}))});
  }
  t.print(std::cout);
  return 0;
}

int remove(Cli& cli, const std::string& version) {
  auto path = version_in_url(version);
  if (!path) return fail(cli.format(), Exit::kUsage, "usage", "'" + version + "' is not a version");
  auto client = cli.client();
  if (!client) return client.error();
  auto r = (*client)->post("/v1/releases/" + *path + "/delete", json::object());
  if (!r) return fail(cli.format(), r.error());
  if (cli.format() != Format::kTable) {
    print_json(*r);
  } else {
    std::cout << "release " << version << " deleted"
              << (r->value("artifact_removed", false) ? " (its artifact too)" : "") << "\n";
  }
  return 0;
}

}  // namespace

void setup_release(CLI::App& app, Cli& cli) {
  auto* release = app.add_subcommand("release", "agentd releases the cluster can run");
  release->require_subcommand(1);
  auto binary = std::make_shared<std::string>();
  auto* push_cmd = release->add_subcommand("push", "Upload an agentd binary with its manifest");
  push_cmd->add_option("BINARY", *binary, "The agentd binary")->required();
  push_cmd->footer("Example:\n  logctl release push ./agentd-1.4.0");
  push_cmd->callback([&cli, binary] { cli.rc = push(cli, *binary); });
  auto* list_cmd = release->add_subcommand("list", "Every pushed release");
  list_cmd->footer("Example:\n  logctl release list");
  list_cmd->callback([&cli] { cli.rc = list(cli); });
  auto version = std::make_shared<std::string>();
  auto* delete_cmd = release->add_subcommand(
      "delete", "Delete a release no one needs (not current, target or previous, run by no node)");
  delete_cmd->add_option("VERSION", *version, "The release's version")->required();
  delete_cmd->footer("Example:\n  logctl release delete 1.3.0");
  delete_cmd->callback([&cli, version] { cli.rc = remove(cli, *version); });
}

}  // namespace logctl::cli
