// Writes the committed seed corpora (tests/fuzz/corpus/<target>/): valid and malformed records for every
// topic configuration of fuzz_decode, and seeds for fuzz_record_path. Deterministic; re-run with
//   build-fuzz/gen_fuzz_corpus tests/fuzz/corpus   (build-fuzz/tests/gen_fuzz_corpus once
//   tests/CMakeLists.txt includes fuzz.cmake)
// (built by tests/fuzz/fuzz.cmake in the clang fuzz build) after a schema change.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "gridsentinel/v1/telemetry.pb.h"

namespace fs = std::filesystem;
namespace v1 = gridsentinel::v1;

namespace {

constexpr int64_t kT = 1'706'000'000'000;  // shortly before the fuzzers' wall clock (2024-02-01)
int written = 0;

void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
  ++written;
}

// Binary encoding with map entries (InfraMetric.labels) in a fixed order, so that re-running gives identical
// files.
std::string bin(const google::protobuf::Message& m) {
  std::string s;
  {
    google::protobuf::io::StringOutputStream zs(&s);
    google::protobuf::io::CodedOutputStream out(&zs);
    out.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&out);
  }
  return s;
}

// JSON mapping; the printer's map order is not fixed, so JSON seeds carry at most one label.
std::string json(const google::protobuf::Message& m) {
  std::string s;
  (void)google::protobuf::util::MessageToJsonString(m, &s);
  return s;
}

v1::MeterReading reading(const std::string& id, int64_t t, double power) {
  v1::MeterReading r;
  r.set_meter_id(id);
  r.set_event_time_ms(t);
  r.set_voltage_v(231.2);
  r.set_current_a(power / 231.2);
  r.set_active_power_w(power);
  r.set_energy_kwh(1234.5);
  r.set_power_factor(0.97);
  r.set_frequency_hz(50.01);
  r.set_interval_s(900);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  const fs::path dec = root / "fuzz_decode";
  const fs::path rec = root / "fuzz_record_path";
  // fuzz_decode: byte 0 = topic configuration (0 reading pb, 1 batch pb, 2 infra pb, 3 reading json,
  // 4 batch json, 5 infra json).
  auto d = [&](int topic, const std::string& name, const std::string& bytes) {
    put(dec, name, std::string(1, static_cast<char>(topic)) + bytes);
  };

  v1::MeterReading full = reading("MTR-000123", kT, 480.0);
  full.set_transformer_id("TR-42");
  full.set_status_flags(1 | 4);
  v1::MeterReading minimal;
  minimal.set_meter_id("M");
  minimal.set_event_time_ms(kT);
  v1::MeterReading neg_power = reading("MTR-PV", kT, -2500.0);
  v1::MeterReading nan_v = reading("MTR-NAN", kT, 1.0);
  nan_v.set_voltage_v(std::numeric_limits<double>::quiet_NaN());
  v1::MeterReading bad_pf = reading("MTR-PF", kT, 1.0);
  bad_pf.set_power_factor(1.5);
  v1::MeterReading no_time = reading("MTR-T", 0, 1.0);
  v1::MeterReading future = reading("MTR-F", kT + 86'400'000LL * 30, 1.0);
  v1::MeterReading no_id = reading("", kT, 1.0);
  v1::MeterReading long_id = reading(std::string(129, 'x'), kT, 1.0);

  d(0, "reading_full.pb", bin(full));
  d(0, "reading_minimal.pb", bin(minimal));
  d(0, "reading_export.pb", bin(neg_power));
  d(0, "reading_nan_voltage.pb", bin(nan_v));
  d(0, "reading_bad_pf.pb", bin(bad_pf));
  d(0, "reading_no_time.pb", bin(no_time));
  d(0, "reading_future.pb", bin(future));
  d(0, "reading_no_id.pb", bin(no_id));
  d(0, "reading_long_id.pb", bin(long_id));
  d(0, "reading_truncated.pb", bin(full).substr(0, 17));
  d(0, "reading_garbage.pb", std::string("\xff\xff\xff\xff\x0f\x08\x96\x01", 8));
  d(0, "empty", "");

  v1::MeterReadingBatch batch;
  for (int i = 0; i < 4; ++i)
    *batch.add_readings() = reading("MTR-" + std::to_string(i), kT + i * 900'000, 100 * i);
  d(1, "batch_valid.pb", bin(batch));
  v1::MeterReadingBatch mixed = batch;
  *mixed.add_readings() = nan_v;
  *mixed.add_readings() = no_id;
  *mixed.add_readings() = bad_pf;
  d(1, "batch_mixed.pb", bin(mixed));
  d(1, "batch_empty.pb", bin(v1::MeterReadingBatch()));
  d(1, "batch_as_reading.pb", bin(full));  // a reading on a batch topic

  v1::InfraMetric infra;
  infra.set_source("node-1");
  infra.set_metric("cpu_utilisation_ratio");
  infra.set_value(0.42);
  infra.set_event_time_ms(kT);
  (*infra.mutable_labels())["dc"] = "west";
  (*infra.mutable_labels())["role"] = "broker";
  d(2, "infra_valid.pb", bin(infra));
  v1::InfraMetric many = infra;
  for (int i = 0; i < 9; ++i) (*many.mutable_labels())["l" + std::to_string(i)] = "v";
  d(2, "infra_too_many_labels.pb", bin(many));
  v1::InfraMetric inf = infra;
  inf.set_value(std::numeric_limits<double>::infinity());
  d(2, "infra_inf.pb", bin(inf));
  d(2, "infra_as_reading.pb", bin(full));  // wrong message type
  d(0, "reading_as_infra.pb", bin(infra));

  d(3, "reading_full.json", json(full));
  d(3, "reading_readme.json",
    R"({"meterId":"MTR-X","eventTimeMs":"1704067200000","voltageV":231.2,"activePowerW":480})");
  d(3, "reading_snake.json", R"({"meter_id":"MTR-Y","event_time_ms":1704067200000,"voltage_v":"NaN"})");
  d(3, "reading_unknown_field.json", R"({"meterId":"MTR-Z","eventTimeMs":"1704067200000","bogus":1})");
  d(3, "reading_bad_json.json", R"({"meterId":"MTR-Z","eventTimeMs":)");
  d(3, "reading_nested.json", std::string(200, '[') + std::string(200, ']'));
  v1::InfraMetric infra1 = infra;
  infra1.mutable_labels()->erase("role");
  d(3, "infra_on_reading_topic.json", json(infra1));
  d(4, "batch_valid.json", json(batch));
  d(4, "batch_mixed.json", json(mixed));
  d(5, "infra_valid.json", json(infra1));
  d(5, "infra_bad_value.json",
    R"({"source":"a","metric":"b","value":"Infinity","eventTimeMs":"1706000000000"})");

  // fuzz_record_path: FuzzedDataProvider programs. Its integers are taken from the end of the input, its
  // strings from the front: a few deterministic pseudo-random programs of various lengths, plus the records
  // above (so that raw-record operations start from valid encodings).
  uint64_t s = 42;
  for (int k = 0; k < 8; ++k) {
    std::string bytes(static_cast<size_t>(64 << (k % 5)), '\0');
    for (auto& ch : bytes) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      ch = static_cast<char>(s >> 56);
    }
    put(rec, "random_" + std::to_string(k), bytes);
  }
  put(rec, "reading_full.pb", bin(full));
  put(rec, "batch_mixed.pb", bin(mixed));
  put(rec, "infra_valid.pb", bin(infra));
  put(rec, "reading_full.json", json(full));
  std::printf("wrote %d files under %s\n", written, root.c_str());
  return 0;
}
