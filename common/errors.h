#pragma once
// Error policy: exceptions at start-up and configuration, std::expected on the data path.
// The CLI maps UsageError to exit status 2 (bad input) and anything else to 1 (runtime failure).

#include <stdexcept>
#include <string>

namespace execaudit {

/// Bad input from the user: unknown session, bad time, bad flag, unreadable database. Exit 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Something failed while running (kernel refused a program, disk full, ...). Exit 1.
class RuntimeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace execaudit
