#pragma once
// A value or the reason there is none: the expected-like return type of the NAB backtest code (C++20 has no
// std::expected). Loading and scoring report bad input through it and never throw; the message says where
// the problem is (file, line or JSON key, row) so that a bad corpus can be fixed without a debugger.
#include <optional>
#include <string>
#include <utility>

namespace gridsentinel::backtest {

template <typename T>
class NabResult {
 public:
  NabResult(T value)
      : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor): return a T directly
  static NabResult failure(std::string message) { return NabResult(std::move(message), 0); }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }

  // Preconditions: ok() for value(), !ok() for error() to be meaningful (it is empty when ok()).
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  const T* operator->() const { return &*value_; }
  const std::string& error() const { return error_; }

 private:
  NabResult(std::string message, int /*tag*/) : error_(std::move(message)) {}

  std::optional<T> value_;
  std::string error_;
};

}  // namespace gridsentinel::backtest
