#pragma once
// Why a record (or one reading of a batch) was dead-lettered. A bounded set: each value is a Prometheus label
// value of gridsentinel_dead_letters_total{reason} and the `reason` of the DeadLetter message.
#include <cstdint>

namespace gridsentinel::ingest {

enum class DeadLetterReason : uint8_t {
  kOversized,           // record value larger than ingest.max_message_bytes
  kDecodeError,         // not a valid protobuf encoding
  kJsonError,           // not valid JSON, or JSON that does not map onto the topic's message type
  kWrongMessageType,    // a valid message of another type (e.g. an InfraMetric on a meter topic)
  kMissingId,           // meter_id, or source/metric, empty
  kIdTooLong,           // an id longer than ingest.max_id_bytes
  kMissingEventTime,    // event_time_ms unset or <= 0
  kNonFiniteValue,      // a measurement is NaN or +-Inf
  kInvalidValue,        // a measurement outside its physical range (negative voltage, |pf| > 1, ...)
  kEventTimeInFuture,   // event time more than ingest.max_future ahead of the wall clock
  kEventTimeTooOld,     // event time more than ingest.max_past behind the wall clock
  kBatchTooLarge,       // a MeterReadingBatch with more than ingest.max_batch_readings readings
  kTooManyLabels,       // an InfraMetric with more than 8 labels or oversized label text
  kLateEvent,           // older than the entity's newest event time minus features.<kind>.allowed_lateness
  kEntityLimit,         // a new entity while limits.max_entities are already tracked
  kConflictingReading,  // another reading of the entity at the event time of one of its latest readings
                        // (the newest and the few before it within the lateness), with other values
  kCount
};

inline const char* reason_name(DeadLetterReason r) {
  switch (r) {
    case DeadLetterReason::kOversized:
      return "oversized";
    case DeadLetterReason::kDecodeError:
      return "decode_error";
    case DeadLetterReason::kJsonError:
      return "json_error";
    case DeadLetterReason::kWrongMessageType:
      return "wrong_message_type";
    case DeadLetterReason::kMissingId:
      return "missing_id";
    case DeadLetterReason::kIdTooLong:
      return "id_too_long";
    case DeadLetterReason::kMissingEventTime:
      return "missing_event_time";
    case DeadLetterReason::kNonFiniteValue:
      return "non_finite_value";
    case DeadLetterReason::kInvalidValue:
      return "invalid_value";
    case DeadLetterReason::kEventTimeInFuture:
      return "event_time_in_future";
    case DeadLetterReason::kEventTimeTooOld:
      return "event_time_too_old";
    case DeadLetterReason::kBatchTooLarge:
      return "batch_too_large";
    case DeadLetterReason::kTooManyLabels:
      return "too_many_labels";
    case DeadLetterReason::kLateEvent:
      return "late_event";
    case DeadLetterReason::kEntityLimit:
      return "entity_limit";
    case DeadLetterReason::kConflictingReading:
      return "conflicting_reading";
    case DeadLetterReason::kCount:
      break;
  }
  return "unknown";
}

// The pipeline stage that rejected: "decode", "validate" or "features".
inline const char* reason_stage(DeadLetterReason r) {
  switch (r) {
    case DeadLetterReason::kOversized:
    case DeadLetterReason::kDecodeError:
    case DeadLetterReason::kJsonError:
    case DeadLetterReason::kWrongMessageType:
      return "decode";
    case DeadLetterReason::kLateEvent:
    case DeadLetterReason::kEntityLimit:
    case DeadLetterReason::kConflictingReading:
      return "features";
    default:
      return "validate";
  }
}

}  // namespace gridsentinel::ingest
