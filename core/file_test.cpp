// read_file: whole files and Go's *PathError texts.
#include "core/file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/catch.hpp"

using namespace dnscore;

namespace {
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/dnscore-file-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};
}  // namespace

TEST_CASE("read_file returns the whole file", "[file]") {
    TempDir dir;
    const std::string path = dir.path + "/f";
    std::string content(200000, 'x');
    content[0] = '\0';
    content.back() = '\n';
    std::ofstream(path, std::ios::binary) << content;
    auto got = read_file(path);
    REQUIRE(got);
    CHECK(*got == content);

    std::ofstream(dir.path + "/empty", std::ios::binary);
    auto empty = read_file(dir.path + "/empty");
    REQUIRE(empty);
    CHECK(empty->empty());
}

TEST_CASE("read_file failures carry errno and Go's text", "[file]") {
    TempDir dir;
    FileError err;
    CHECK_FALSE(read_file(dir.path + "/nope", &err));
    CHECK(err.at_open);
    CHECK(err.code == ENOENT);
    CHECK(err.text == "open " + dir.path + "/nope: no such file or directory");

    // A directory opens but does not read.
    CHECK_FALSE(read_file(dir.path, &err));
    CHECK_FALSE(err.at_open);
    CHECK(err.code == EISDIR);
    CHECK(err.text == "read " + dir.path + ": is a directory");

    CHECK_FALSE(read_file(dir.path + "/nope"));  // no error wanted
}

TEST_CASE("read_file refuses an endless file instead of reading it into memory", "[file]") {
    FileError err;
    CHECK_FALSE(read_file("/dev/zero", &err));
    CHECK_FALSE(err.at_open);
    CHECK(err.code == EFBIG);
    CHECK(err.text == "read /dev/zero: file too large");
}
