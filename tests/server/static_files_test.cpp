// The web client's static files (server/static_files.hpp): path mapping and
// escapes, content types, ETag / Last-Modified / 304, gzip variants, reloads.

#include "server/config.hpp"
#include "server/gzip.hpp"
#include "server/static_files.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace atrium::server;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
}

std::string header(const static_reply& reply, std::string_view name) {
    for (const auto& [key, value] : reply.headers) {
        if (key == name) return value;
    }
    return {};
}

static_reply get(static_files& files, std::string_view target, bool gzip = false) {
    static_request request;
    request.target = target;
    request.accepts_gzip = gzip;
    return files.serve(request);
}

std::string body(const static_reply& reply) { return reply.body ? *reply.body : std::string(); }

/// A root with an index, a script, an image, a subdirectory, a secret beside
/// the root and links into and out of the root.
struct site {
    atrium::test::temp_dir dir{"atrium-static-"};
    fs::path root = dir / "www";
    std::string script = "var x = 1;\n" + std::string(4000, 'a');

    site() {
        write_file(root / "index.html", "<html>sao</html>");
        write_file(root / "dist" / "app.js", script);
        write_file(root / "images" / "icon.svg", "<svg/>");
        write_file(root / "fonts" / "f.woff2", std::string(3000, 'w'));
        write_file(root / "sub" / "index.html", "<html>sub</html>");
        write_file(root / "empty" / "readme.txt", "no index here");
        write_file(root / ".hidden", "dotfile");
        write_file(dir / "secret.txt", "top secret");
        fs::create_directory_symlink(root / "dist", root / "linked");
        fs::create_symlink(dir / "secret.txt", root / "escape.txt");
        fs::create_directory_symlink(dir.path(), root / "up");
    }
};

}  // namespace

TEST_SUITE("static_files") {

TEST_CASE("GET / answers index.html; paths map under the root; queries are ignored") {
    site s;
    static_files files(s.root.string(), 600);
    REQUIRE(files.enabled());
    auto reply = get(files, "/");
    CHECK(reply.status == 200);
    CHECK(body(reply) == "<html>sao</html>");
    CHECK(header(reply, "Content-Type") == "text/html; charset=utf-8");
    CHECK(header(reply, "Cache-Control") == "max-age=600, public");
    CHECK(body(get(files, "/index.html?v=2")) == "<html>sao</html>");
    CHECK(body(get(files, "/sub")) == "<html>sub</html>");
    CHECK(body(get(files, "/sub/")) == "<html>sub</html>");
    CHECK(body(get(files, "//dist/./app.js")) == s.script);
    CHECK(body(get(files, "/dist/app%2ejs")) == s.script);
    CHECK(body(get(files, "/linked/app.js")) == s.script);  // a link inside the root is fine
}

TEST_CASE("content types by extension") {
    CHECK(static_content_type("a.js") == "text/javascript; charset=utf-8");
    CHECK(static_content_type("a.CSS") == "text/css; charset=utf-8");
    CHECK(static_content_type("a.svg") == "image/svg+xml");
    CHECK(static_content_type("a.png") == "image/png");
    CHECK(static_content_type("a.woff2") == "font/woff2");
    CHECK(static_content_type("a.woff") == "font/woff");
    CHECK(static_content_type("a.ttf") == "font/ttf");
    CHECK(static_content_type("a.json") == "application/json; charset=utf-8");
    CHECK(static_content_type("a.min.js.map") == "application/json; charset=utf-8");
    CHECK(static_content_type("a.ico") == "image/vnd.microsoft.icon");
    CHECK(static_content_type("LICENSE") == "application/octet-stream");
    site s;
    static_files files(s.root.string());
    CHECK(header(get(files, "/images/icon.svg"), "Content-Type") == "image/svg+xml");
    CHECK(header(get(files, "/images/icon.svg"), "X-Content-Type-Options") == "nosniff");
}

TEST_CASE("no escape: .., encoded dots and slashes, NUL, backslashes, dotfiles, links outside") {
    site s;
    static_files files(s.root.string());
    for (const char* target :
         {"/../secret.txt", "/dist/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt",
          "/dist%2f..%2f..%2fsecret.txt", "/..%5csecret.txt", "/index.html%00.js", "/.hidden",
          "/escape.txt", "/up/secret.txt", "secret.txt", "http://x/../secret.txt", "*",
          "/%", "/%2", "/%zz", "/empty", "/empty/", "/nothing.js", "/dist/app.js/"}) {
        CAPTURE(target);
        const auto reply = get(files, target);
        CHECK(reply.status == 404);
        CHECK(body(reply) == "Not found");
    }
    CHECK(get(files, std::string_view("/index.html\0", 12)).status == 404);
    // A link leading out and back in resolves inside the root: served.
    CHECK(body(get(files, "/up/www/index.html")) == "<html>sao</html>");
    CHECK_FALSE(static_path_segments("/a/../b"));
    CHECK(static_path_segments("/a/b%20c")->at(1) == "b c");
}

TEST_CASE("ETag and Last-Modified; 304 on If-None-Match or If-Modified-Since") {
    site s;
    static_files files(s.root.string());
    const auto first = get(files, "/dist/app.js");
    const std::string etag = header(first, "ETag");
    const std::string modified = header(first, "Last-Modified");
    REQUIRE(etag.size() > 2);
    CHECK(etag.front() == '"');
    REQUIRE(parse_http_date(modified));
    CHECK(http_date(*parse_http_date(modified)) == modified);
    CHECK(http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("garbage"));

    static_request request;
    request.target = "/dist/app.js";
    request.if_none_match = etag;
    auto reply = files.serve(request);
    CHECK(reply.status == 304);
    CHECK_FALSE(reply.body);
    CHECK(header(reply, "ETag") == etag);
    const std::string listed = "\"other\", W/" + etag;
    request.if_none_match = listed;
    CHECK(files.serve(request).status == 304);
    request.if_none_match = "\"other\"";
    CHECK(files.serve(request).status == 200);  // If-Modified-Since is then ignored
    request.if_none_match = {};
    request.if_modified_since = modified;
    CHECK(files.serve(request).status == 304);
    const std::string before = http_date(*parse_http_date(modified) - 10);
    request.if_modified_since = before;
    CHECK(files.serve(request).status == 200);
    request.if_modified_since = "not a date";
    CHECK(files.serve(request).status == 200);
}

TEST_CASE("gzip variant when accepted, for compressible types only; HEAD has no body") {
    site s;
    static_files files(s.root.string());
    const auto plain = get(files, "/dist/app.js");
    CHECK(header(plain, "Content-Encoding").empty());
    CHECK(header(plain, "Vary") == "Accept-Encoding");
    const auto zipped = get(files, "/dist/app.js", true);
    CHECK(header(zipped, "Content-Encoding") == "gzip");
    CHECK(header(zipped, "ETag") != header(plain, "ETag"));
    std::string inflated;
    REQUIRE(gzip_inflate(body(zipped), 1 << 20, inflated) == inflate_status::ok);
    CHECK(inflated == s.script);
    CHECK(zipped.length < plain.length);
    // Already compressed, or too small to gain: always plain.
    CHECK(header(get(files, "/fonts/f.woff2", true), "Content-Encoding").empty());
    CHECK(header(get(files, "/index.html", true), "Content-Encoding").empty());

    static_request head;
    head.target = "/dist/app.js";
    head.head = true;
    const auto reply = files.serve(head);
    CHECK(reply.status == 200);
    CHECK_FALSE(reply.body);
    CHECK(reply.length == s.script.size());
}

TEST_CASE("a changed file is read again") {
    site s;
    static_files files(s.root.string());
    const auto before = get(files, "/index.html");
    write_file(s.root / "index.html", "<html>new version</html>");
    const auto after = get(files, "/index.html");
    CHECK(body(after) == "<html>new version</html>");
    CHECK(header(after, "ETag") != header(before, "ETag"));
}

TEST_CASE("disabled: empty root, missing root, a file as root") {
    site s;
    CHECK_FALSE(static_files("").enabled());
    CHECK_FALSE(static_files((s.dir / "missing").string()).enabled());
    CHECK_FALSE(static_files((s.dir / "secret.txt").string()).enabled());
    static_files off("");
    CHECK(get(off, "/").status == 404);
}

TEST_CASE("config: web.root defaults to Debian's sao; empty disables; another path must be a directory") {
    site s;
    CHECK(parse_config("").web.root == "/usr/share/tryton-sao/www");
    CHECK(parse_config("[web]\nroot =\n").web.root.empty());
    CHECK(parse_config("[web]\nroot = " + s.root.string() + "\n").web.root == s.root.string());
    CHECK_THROWS_WITH_AS(parse_config("[web]\nroot = " + (s.dir / "missing").string() + "\n"),
                         doctest::Contains("is not a directory"), config_error);
    CHECK_THROWS_AS(parse_config("[web]\nroot = " + (s.dir / "secret.txt").string() + "\n"), config_error);
}

}  // TEST_SUITE
