#pragma once
// Where the processor's outputs go. The Kafka runner produces them (and tracks their acknowledgements for
// offset commits); tests and the backtest collect them in memory. Implementations must not throw.
#include "gridsentinel/v1/alert.pb.h"
#include "ingest/DeadLetterReason.h"

namespace gridsentinel::pipeline {

class Emitter {
 public:
  virtual ~Emitter() = default;
  virtual void alert(const v1::Alert& alert) = 0;
  // `key` is the original record's key.
  virtual void dead_letter(const v1::DeadLetter& dead_letter, std::string_view key) = 0;
  // A meter's risk band changed: the latest value for the compacted meter-risk topic, keyed by meter id.
  virtual void risk(const v1::MeterRisk& risk) = 0;
};

}  // namespace gridsentinel::pipeline
