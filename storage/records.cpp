#include "storage/records.h"

#include <string_view>

namespace execaudit::storage {
namespace {

std::string_view basename_of(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool argv0_mismatch(const CommandRecord& c) {
    if (c.argv.empty() || c.filename.empty()) return !c.argv.empty() && c.exe_fileless;  // fexecve: argv[0] claims a name
    std::string_view arg0 = basename_of(c.argv[0]);
    if (arg0.size() > 1 && arg0.front() == '-') arg0.remove_prefix(1);  // a login shell
    return arg0 != basename_of(c.filename);
}

}  // namespace execaudit::storage
