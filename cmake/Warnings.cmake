# Project-wide settings as INTERFACE targets: link `logctl_settings` into every
# target of ours; third-party headers are included as SYSTEM so -Werror stays ours.
add_library(logctl_settings INTERFACE)
target_compile_options(logctl_settings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough)
math(EXPR _next_patch "${PROJECT_VERSION_PATCH} + 1")
set(LOGCTL_NEXT_PATCH "${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}.${_next_patch}")
target_compile_definitions(logctl_settings INTERFACE
  LOGCTL_VERSION="${PROJECT_VERSION}" LOGCTL_NEXT_PATCH="${LOGCTL_NEXT_PATCH}")

if(LOGCTL_SANITIZE)
  target_compile_options(logctl_settings INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(logctl_settings INTERFACE -fsanitize=address,undefined)
  target_compile_definitions(logctl_settings INTERFACE LOGCTL_SANITIZE=1)
endif()
