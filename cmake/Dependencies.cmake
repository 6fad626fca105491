# Every dependency is a Debian 12 package installed by scripts/setup.sh;
# docs/dependencies.md says why each is here.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(LIBDEFLATE REQUIRED IMPORTED_TARGET libdeflate)

# Asio (standalone) and msgpack-cxx are header-only; msgpack's CMake target drags
# in Boost, which we do not need, so we use its headers directly.
add_library(logctl_asio INTERFACE)
target_compile_definitions(logctl_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
target_link_libraries(logctl_asio INTERFACE Threads::Threads)

add_library(logctl_msgpack INTERFACE)
target_compile_definitions(logctl_msgpack INTERFACE MSGPACK_NO_BOOST MSGPACK_DEFAULT_API_VERSION=3)

if(LOGCTL_TESTS)
  find_package(Catch2 2.13 REQUIRED)
endif()
