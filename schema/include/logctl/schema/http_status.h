// HTTP status reason phrases (RFC 9110 §15), for the two small HTTP servers
// that write their own status lines: agentd's admin endpoint and the
// controller's front door. A contract with every HTTP client.
// Thread safety: pure.
#pragma once

namespace logctl {

// "OK", "Not Found", ...; for a code not listed, the class's generic phrase.
const char* http_reason(int status);

}  // namespace logctl
