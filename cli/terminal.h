// Keeping text from elsewhere (a node's report, a server's message) from
// acting on the operator's terminal: clearing the screen, setting the window
// title, writing the clipboard (OSC 52), or forging a table row with "\r\n".
// Human output goes through escape_terminal_controls() (stderr always,
// stdout in table mode): every control byte but newline and tab is written
// as \xNN, a C1 control (U+0080..U+009F) as \u00NN. Table cells go through
// printable(), which escapes newlines too. JSON output is left exact (its
// encoder already escapes control characters).
// Thread safety: install once, from main, before any output.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

namespace logctl::cli {

// `s` with every control byte (newlines too) and C1 control escaped.
std::string printable(std::string_view s);

// Filters `stream` from now on (the filter lives until the process ends).
void escape_terminal_controls(std::ostream& stream);

// stderr without the filter: for the live view's own cursor movements only
// (what it draws between them goes through printable()).
std::ostream& unfiltered_stderr();
// stdout without the filter: for `status --watch`'s screen clearing only.
std::ostream& unfiltered_stdout();

}  // namespace logctl::cli
