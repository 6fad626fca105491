#include "controller/store/pg_conn.h"

#include <vector>

namespace logctl::store {

Result<PGconn*> pg_connect(const std::string& conninfo, const std::string& password) {
  // The operator's conninfo first (expand_dbname), then our bounds.
  const char* keys[] = {
      "dbname",           "connect_timeout",  "keepalives_idle",  "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "application_name", nullptr};
  const char* defaults[] = {"5", "5", "2", "3", "10000", "logctl-controller"};
  std::vector<const char*> k, v;
  k.push_back(keys[0]);
  v.push_back(conninfo.c_str());
  for (int i = 1; keys[i]; ++i) {
    if (conninfo.find(keys[i]) != std::string::npos) continue;  // the operator's own
    k.push_back(keys[i]);
    v.push_back(defaults[i - 1]);
  }
  if (!password.empty()) {
    k.push_back("password");
    v.push_back(password.c_str());
  }
  k.push_back(nullptr);
  v.push_back(nullptr);
  PGconn* c = PQconnectdbParams(k.data(), v.data(), 1);
  if (!c) return make_error(ErrorCode::kIo, "PostgreSQL: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(c);
    return make_error(ErrorCode::kUnavailable, "cannot connect to PostgreSQL: " + msg);
  }
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  return c;
}

}  // namespace logctl::store
