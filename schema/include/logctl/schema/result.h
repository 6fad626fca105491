// Result<T>: the return type of every operation that can fail in an expected way.
//
// An Error carries a stable code (for the one table that maps codes to HTTP
// statuses and CLI exit codes) and a human message that names what and where
// ("pipeline.conf:12: unknown parameter 'prot' in <source> @type tcp").
// Thread safety: plain values; safe to copy between threads.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace logctl {

enum class ErrorCode {
  kInvalidArgument,    // bad input from a user: config, request, flag
  kNotFound,           // a named thing does not exist
  kIo,                 // an operating-system call failed (errno in the message)
  kCorrupt,            // persisted data failed a checksum or structural check
  kUnavailable,        // a peer or resource is not there right now; retry may help
  kResourceExhausted,  // a buffer, disk or limit is full
  kAlreadyExists,      // a lock or a unique name is taken
  kFenced,             // a write from a leader whose term a successor has superseded
  kInternal,           // a bug: never expected
};

struct Error {
  ErrorCode code;
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;

// Status is Result<void>: success carries nothing.
using Status = std::expected<void, Error>;

inline std::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kFenced:
      return "fenced";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

}  // namespace logctl
