// Filters built from validated config sections, on packed records.
#include <unistd.h>
#include <catch2/catch.hpp>

#include "agentd/core/msgpack_view.h"
#include "agentd/core/record_writer.h"
#include "agentd/filters/filter.h"
#include "agentd/outputs/inject.h"
#include "logctl/schema/pipeline_config.h"

using namespace logctl;
using namespace logctl::agentd;

namespace {

// A validated config from its text.
config::PipelineConfig load_config(const std::string& text) {
  auto tree = config::parse_string(text, "f.conf");
  REQUIRE(tree);
  auto cfg = config::validate(*tree);
  INFO((cfg ? "" : cfg.error().message));
  REQUIRE(cfg);
  return std::move(*cfg);
}

// The filter's output for one record {key: message}, as JSON.
std::string run(const std::string& body, const std::string& tag, const std::string& message,
                const std::string& key = "log") {
  auto cfg =
      load_config("<filter **>\n" + body + "\n</filter>\n<match **>\n @type null\n</match>\n");
  Metrics metrics;
  auto f = make_filter(cfg.filters[0].filter, metrics);
  REQUIRE(f);
  EventBatch in, out;
  RecordWriter w(in);
  w.begin(EventTime{1}, 1);
  w.field(key, message);
  w.end();
  (*f)->filter(tag, EventTime{1}, record_of(in.entry(in.entries[0])), out, nullptr);
  if (out.entries.empty()) return "<dropped>";
  std::string json;
  append_json(json, record_of(out.entry(out.entries[0])));
  return json;
}

std::string host() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

TEST_CASE("kubernetes_metadata: pod, namespace, container and ids from the file's path") {
  const std::string id(64, 'a');
  std::string meta = "@type kubernetes_metadata";
  CHECK(run(meta, "kubernetes.var.log.containers.web-7d9f_shop_nginx-" + id + ".log", "hi") ==
        R"({"log":"hi","docker":{"container_id":")" + id +
            R"("},"kubernetes":{"container_name":"nginx","namespace_name":"shop",)"
            R"("pod_name":"web-7d9f","host":")" +
            host() + R"("}})");
  CHECK(run(meta,
            "kubernetes.var.log.pods.shop_web.1_0f3c2a4e-1b2c-4d5e-8f90-123456789abc.nginx.0.log",
            "hi") ==
        R"({"log":"hi","kubernetes":{"container_name":"nginx","namespace_name":"shop",)"
        R"("pod_name":"web.1","pod_id":"0f3c2a4e-1b2c-4d5e-8f90-123456789abc","host":")" +
            host() + R"("}})");
  CHECK(run("@type kubernetes_metadata\n path_key path", "any",
            "x") == R"({"log":"x"})");  // no path field: unchanged
  CHECK(run(meta, "app.other", "x") == R"({"log":"x"})");
  // The path from a record field (path_key); a kubernetes field the record
  // has is replaced, not doubled.
  std::string web_path = "/var/log/containers/web-7d9f_shop_nginx-" + id + ".log";
  std::string web_meta = R"("docker":{"container_id":")" + id +
                         R"("},"kubernetes":{"container_name":"nginx","namespace_name":"shop",)"
                         R"("pod_name":"web-7d9f","host":")" +
                         host() + R"("}})";
  CHECK(run("@type kubernetes_metadata\n path_key path", "any", web_path, "path") ==
        R"({"path":")" + web_path + R"(",)" + web_meta);
  CHECK(run(meta, "kubernetes" + web_path, "old", "kubernetes") == "{" + web_meta);
  CHECK(run(meta, "k.var.lib.kubelet.pods.0f3c2a4e-1b2c-4d5e-8f90-123456789abc.volumes.x.log",
            "v") == R"({"log":"v","kubernetes":{"pod_id":"0f3c2a4e-1b2c-4d5e-8f90-123456789abc",)"
                    R"("host":")" +
                        host() + R"("}})");
}

TEST_CASE("record_transformer and grep on single records") {
  CHECK(run("@type record_transformer\n auto_typecast true\n <record>\n  copy ${record[\"log\"]}\n"
            "  last ${tag_parts[-1]}\n  pre ${tag_prefix[1]}\n  suf ${tag_suffix[1]}\n"
            "  unknown ${unknown}\n  in_text <${log}|__OLD_STYLE__|${record[\"log\"]}>\n </record>",
            "a.b.c", "m") ==
        R"({"log":"m","copy":"m","last":"c","pre":"a.b","suf":"b.c","unknown":null,)"
        R"("in_text":"<||m>"})");  // Fluentd's: what is not a placeholder is nil
  CHECK(run("@type record_transformer\n renew_record true\n keep_keys log\n <record>\n"
            "  t ${tag}\n </record>",
            "x", "m") == R"({"log":"m","t":"x"})");
  CHECK(run("@type grep\n <or>\n  <regexp>\n   key log\n   pattern /^a/\n  </regexp>\n"
            "  <regexp>\n   key log\n   pattern /^b/\n  </regexp>\n </or>",
            "t", "b1") == R"({"log":"b1"})");
  CHECK(run("@type grep\n <or>\n  <regexp>\n   key log\n   pattern /^a/\n  </regexp>\n"
            "  <regexp>\n   key log\n   pattern /^b/\n  </regexp>\n </or>",
            "t", "c1") == "<dropped>");
  CHECK(run("@type grep\n <and>\n  <exclude>\n   key log\n   pattern /x/\n  </exclude>\n"
            "  <exclude>\n   key log\n   pattern /y/\n  </exclude>\n </and>",
            "t", "x1") == R"({"log":"x1"})");
  CHECK(run("@type grep\n <and>\n  <exclude>\n   key log\n   pattern /x/\n  </exclude>\n"
            "  <exclude>\n   key log\n   pattern /y/\n  </exclude>\n </and>",
            "t", "x and y") == "<dropped>");
}

TEST_CASE("inject: a key the record has keeps its place and a binary key counts as its name") {
  auto cfg = load_config(
      "<match **>\n @type stdout\n <inject>\n  tag_key tag\n  hostname_key host\n"
      "  hostname h1\n </inject>\n</match>\n");
  auto inject = Injector::make(cfg.matches[0].output.child("inject"));
  REQUIRE(inject);
  // {"a":1, bin"host":"old", 7:"x"}: the binary key is replaced in place (a
  // Ruby Hash takes it as the same String), the integer key kept as it is.
  std::string rec;
  RecordWriter::pack_map_header(rec, 3);
  RecordWriter::pack_str(rec, "a");
  rec += '\x01';
  rec += "\xc4\x04host";
  RecordWriter::pack_str(rec, "old");
  rec += '\x07';
  RecordWriter::pack_str(rec, "x");
  EventBatch in, out;
  in.tag = "app.web";
  RecordWriter w(in);
  w.begin(EventTime{1}, 0);
  w.record_packed(rec);
  w.end();
  inject->apply(in, out);
  REQUIRE(out.entries.size() == 1);
  std::string json;
  append_json(json, record_of(out.entry(out.entries[0])));
  CHECK(json == R"({"a":1,"host":"h1","7":"x","tag":"app.web"})");
}

TEST_CASE("record_transformer renew_time_key takes a time only when it is one") {
  auto cfg = load_config(
      "<filter **>\n @type record_transformer\n renew_time_key t\n</filter>\n"
      "<match **>\n @type null\n</match>\n");
  Metrics metrics;
  auto f = make_filter(cfg.filters[0].filter, metrics);
  REQUIRE(f);
  auto time_after = [&](const std::string& value) {
    EventBatch in, out;
    RecordWriter w(in);
    w.begin(EventTime{7}, 1);
    w.field("t", value);
    w.end();
    (*f)->filter("tag", EventTime{7}, record_of(in.entry(in.entries[0])), out, nullptr);
    REQUIRE(out.entries.size() == 1);
    return out.entries[0].time.ns;
  };
  CHECK(time_after("1700000000.5") == 1'700'000'000'500'000'000);
  // Past what int64 nanoseconds hold, inf and NaN: the event keeps its time
  // (converting them was undefined behaviour).
  CHECK(time_after("1e300") == 7);
  CHECK(time_after("inf") == 7);
  CHECK(time_after("nan") == 7);
  CHECK(time_after("-1e11") == 7);
}
