// Loading NAB files (src/backtest/NabData.h): timestamps, CSV rows, windows/labels/profiles JSON, and the
// error messages that name the file and line.
#include "backtest/NabData.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace gridsentinel::backtest {
namespace {

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(NabData, TimestampsAreUtcMillisecondsWithOptionalFraction) {
  EXPECT_EQ(parse_nab_timestamp("1970-01-01 00:00:00"), 0);
  EXPECT_EQ(parse_nab_timestamp("2014-04-01 00:00:00"), 1396310400000);
  EXPECT_EQ(parse_nab_timestamp("2014-04-10 07:15:00.000000"), 1397114100000);  // the windows' form
  EXPECT_EQ(parse_nab_timestamp("2014-04-10 07:15:00.5"), 1397114100500);
  EXPECT_EQ(parse_nab_timestamp("2014-04-10 07:15:00.123999"), 1397114100123);  // below 1 ms truncated
  EXPECT_EQ(parse_nab_timestamp("2016-02-29 23:59:59"), 1456790399000);         // leap day
  for (const char* bad : {"2014-02-29 00:00:00", "2014-04-10T07:15:00", "2014-04-10 24:00:00",
                          "2014-04-10 07:15", "2014-04-10 07:15:00.", "2014-04-10 07:15:00Z", "",
                          "2014-4-10 07:15:00", "2014-04-10 07:15:00.1234567890"}) {
    EXPECT_FALSE(parse_nab_timestamp(bad).has_value()) << bad;
  }
  EXPECT_EQ(format_nab_timestamp(1397114100000), "2014-04-10 07:15:00");
  EXPECT_EQ(format_nab_timestamp(1397114100500), "2014-04-10 07:15:00.500");
  EXPECT_EQ(format_nab_timestamp(-1000), "1969-12-31 23:59:59");
}

TEST(NabData, CsvKeepsFileOrderAndCountsDuplicateAndBackwardSteps) {
  const std::string csv =
      "timestamp,value\r\n"
      "2014-04-01 00:00:00,1.5\r\n"
      "2014-04-01 00:05:00,-2\r\n"
      "\r\n"
      "2014-04-01 00:05:00,3e2\r\n"
      "2014-04-01 00:01:00,+4\r\n"
      "2014-04-01 00:30:00,5";  // no final newline, as in some NAB files
  const NabResult<NabSeries> s = parse_nab_series(csv, "cat/x.csv", "x.csv");
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->name, "cat/x.csv");
  ASSERT_EQ(s->size(), 5u);
  EXPECT_EQ(s->values[0], 1.5);
  EXPECT_EQ(s->values[1], -2.0);
  EXPECT_EQ(s->values[2], 300.0);
  EXPECT_EQ(s->values[3], 4.0);
  EXPECT_EQ(s->timestamps_ms[3], 1396310460000);  // kept where the file has it
  EXPECT_EQ(s->duplicate_steps, 1u);
  EXPECT_EQ(s->backward_steps, 1u);
}

TEST(NabData, CsvErrorsNameTheSourceAndLine) {
  auto error_of = [](const std::string& csv) { return parse_nab_series(csv, "n", "f.csv").error(); };
  EXPECT_EQ(error_of("time,value\n"), "f.csv:1: expected header \"timestamp,value\"");
  EXPECT_EQ(error_of("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00\n"),
            "f.csv:3: expected two fields \"timestamp,value\"");
  EXPECT_EQ(error_of("timestamp,value\n2014-04-01 00:00:00,1,2\n"),
            "f.csv:2: expected two fields \"timestamp,value\"");
  EXPECT_EQ(error_of("timestamp,value\n2014-13-01 00:00:00,1\n"),
            "f.csv:2: bad timestamp \"2014-13-01 00:00:00\"");
  EXPECT_EQ(error_of("timestamp,value\n\n2014-04-01 00:00:00,abc\n"), "f.csv:3: bad value \"abc\"");
  EXPECT_EQ(error_of("timestamp,value\n2014-04-01 00:00:00,nan\n"), "f.csv:2: bad value \"nan\"");
  EXPECT_EQ(error_of("timestamp,value\n2014-04-01 00:00:00,\n"), "f.csv:2: bad value \"\"");
  EXPECT_EQ(error_of("timestamp,value\n"), "f.csv:1: no data rows");
  EXPECT_EQ(error_of(""), "f.csv:1: empty file (expected header \"timestamp,value\")");
  const NabResult<NabSeries> missing = load_nab_series("/nonexistent/nab.csv", "n");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "/nonexistent/nab.csv: cannot read file");
}

TEST(NabData, WindowsJsonIsReadSortedByFile) {
  const auto path = write_temp("nab_windows_ok.json", R"({
    "b/two.csv": [["2014-04-01 00:10:00.000000", "2014-04-01 00:20:00.000000"],
                  ["2014-04-01 01:00:00.000000", "2014-04-01 01:00:00.000000"]],
    "a/one.csv": []
  })");
  const NabResult<NabWindowMap> w = load_nab_windows(path);
  ASSERT_TRUE(w.ok()) << w.error();
  ASSERT_EQ(w->size(), 2u);
  EXPECT_EQ((*w)[0].first, "a/one.csv");
  EXPECT_TRUE((*w)[0].second.empty());
  ASSERT_EQ((*w)[1].second.size(), 2u);
  EXPECT_EQ((*w)[1].second[0].start_ms, 1396311000000);
  EXPECT_EQ((*w)[1].second[0].end_ms, 1396311600000);
}

TEST(NabData, WindowsJsonErrorsNameTheFileAndWhere) {
  auto error_of = [](const std::string& name, const std::string& text) {
    return load_nab_windows(write_temp(name, text)).error();
  };
  const std::string syntax = error_of("nab_w1.json", "{\n  \"a.csv\": [\n    [\"x\", ]\n  ]\n}");
  EXPECT_NE(syntax.find("nab_w1.json"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("line 3"), std::string::npos) << syntax;
  const std::string shape = error_of("nab_w2.json", R"({"a.csv": [["2014-04-01 00:00:00.000000"]]})");
  EXPECT_NE(shape.find("key \"a.csv\" window 0: expected [start, end]"), std::string::npos) << shape;
  const std::string stamp = error_of("nab_w3.json", R"({"a.csv": [["2014-04-01", "2014-04-02"]]})");
  EXPECT_NE(stamp.find("window 0 start: bad timestamp \"2014-04-01\""), std::string::npos) << stamp;
  const std::string order =
      error_of("nab_w4.json", R"({"a.csv": [["2014-04-02 00:00:00", "2014-04-01 00:00:00"]]})");
  EXPECT_NE(order.find("end is before start"), std::string::npos) << order;
  const std::string overlap = error_of("nab_w5.json", R"({"a.csv": [
      ["2014-04-01 00:00:00", "2014-04-02 00:00:00"],
      ["2014-04-01 12:00:00", "2014-04-03 00:00:00"]]})");
  EXPECT_NE(overlap.find("window 1: starts before the previous window ends"), std::string::npos) << overlap;
}

TEST(NabData, LabelPointsAndProfilesLoad) {
  const NabResult<NabLabelPointMap> labels = load_nab_label_points(
      write_temp("nab_labels.json", R"({"a.csv": ["2014-04-01 00:05:00"], "b.csv": []})"));
  ASSERT_TRUE(labels.ok()) << labels.error();
  ASSERT_EQ(labels->size(), 2u);
  EXPECT_EQ((*labels)[0].second.at(0), 1396310700000);

  const NabResult<std::vector<NabProfile>> bad =
      load_nab_profiles(write_temp("nab_profiles_bad.json", R"({"p": {"CostMatrix": {"tpWeight": 1}}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("key \"p\""), std::string::npos) << bad.error();
}

TEST(NabData, CorpusReadsEveryNamedFileAndReportsAMissingOne) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "nab_mini";
  std::filesystem::create_directories(dir / "labels");
  std::filesystem::create_directories(dir / "data" / "cat");
  std::ofstream(dir / "data" / "cat" / "a.csv")
      << "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,2\n";
  std::ofstream(dir / "data" / "cat" / "unlabelled.csv") << "timestamp,value\n2014-04-01 00:00:00,1\n";
  std::ofstream(dir / "labels" / "combined_labels.json") << R"({"cat/a.csv": ["2014-04-01 00:05:00"]})";
  std::ofstream(dir / "labels" / "combined_windows.json")
      << R"({"cat/a.csv": [["2014-04-01 00:05:00.000000", "2014-04-01 00:05:00.000000"]]})";
  const NabResult<NabCorpus> c = load_nab_corpus(dir);
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_EQ(c->files.size(), 1u);  // only the files the windows name
  EXPECT_EQ(c->files[0].series.name, "cat/a.csv");
  EXPECT_EQ(c->files[0].series.size(), 2u);
  EXPECT_EQ(c->files[0].windows.size(), 1u);
  EXPECT_EQ(c->files[0].label_points.size(), 1u);

  std::ofstream(dir / "labels" / "combined_windows.json") << R"({"cat/a.csv": [], "cat/gone.csv": []})";
  const NabResult<NabCorpus> missing = load_nab_corpus(dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("gone.csv: cannot read file"), std::string::npos) << missing.error();
}

TEST(NabData, SharedProfilesAreNabsThree) {
  const NabResult<std::vector<NabProfile>> p =
      load_nab_profiles(std::filesystem::path(GS_SHARED_DIR) / "data/nab/config/profiles.json");
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].name, "standard");  // file order
  EXPECT_DOUBLE_EQ((*p)[0].fp_weight, 0.11);
  EXPECT_EQ((*p)[1].name, "reward_low_FP_rate");
  EXPECT_DOUBLE_EQ((*p)[1].fp_weight, 0.22);
  EXPECT_EQ((*p)[2].name, "reward_low_FN_rate");
  EXPECT_DOUBLE_EQ((*p)[2].fn_weight, 2.0);
  for (const NabProfile& q : *p) EXPECT_DOUBLE_EQ(q.tp_weight, 1.0);
}

}  // namespace
}  // namespace gridsentinel::backtest
