/* test_srv_config.c - pdpd's options: defaults, flags, the config file, errors. */
#include <criterion/criterion.h>

#include "../../pdp/server/srv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static srv_config_action parse(srv_config *c, char *err, int argc, ...) {
  char *argv[32];
  va_list ap;
  va_start(ap, argc);
  argv[0] = "pdpd";
  for (int i = 1; i < argc; i++) argv[i] = va_arg(ap, char *);
  va_end(ap);
  srv_config_init(c);
  return srv_config_parse(c, argc, argv, err, 512);
}

static char *write_file(const char *text) {
  static char path[64];
  snprintf(path, sizeof(path), "/tmp/pdpd-cfg-XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

Test(config, defaults_match_the_documented_ones) {
  srv_config c;
  srv_config_init(&c);
  cr_assert_str_eq(c.socket, "./var/pdpd.sock");
  cr_assert_str_eq(c.source, "examples/quickstart");
  cr_assert_str_eq(c.data_dir, "./var/pdpd");
  cr_assert_eq(c.max_frame, 1u << 20);
  cr_assert_eq(c.max_connections, 256);
  cr_assert_eq(c.max_value_depth, 32);
  cr_assert_eq(c.max_request_entities, 1000);
  cr_assert_eq(c.max_entity_parents, 100);
  cr_assert_eq(c.max_request_parent_links, 10000);
  cr_assert_eq(c.log_level, SRV_LOG_INFO);
  cr_assert_eq(c.check_interval_ms, 30000);
  cr_assert_eq(c.max_staleness_ms, 0);
  cr_assert_eq(c.map_size, (uint64_t)1 << 30);
  cr_assert(c.watch);
  const char *u = srv_config_usage();
  const char *names[] = {"--socket",
                         "--source",
                         "--data-dir",
                         "--max-frame",
                         "--max-connections",
                         "--max-value-depth",
                         "--max-request-entities",
                         "--max-entity-parents",
                         "--max-request-parent-links",
                         "10000",
                         "--log-level",
                         "--config",
                         "--help",
                         "--version",
                         "--check-interval",
                         "default 30s",
                         "--max-staleness",
                         "--map-size",
                         "default 1G",
                         "--watch",
                         "1048576",
                         "256",
                         "1000",
                         "./var/pdpd.sock"};
  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
    cr_assert(strstr(u, names[i]), "--help mentions %s", names[i]);
}

Test(config, flags_with_space_or_equals_set_options) {
  srv_config c;
  char err[512];
  cr_assert_eq(
      parse(&c, err, 6, "--socket", "/tmp/x.sock", "--max-frame=4096", "--log-level", "debug"),
      SRV_CONFIG_RUN, "%s", err);
  cr_assert_str_eq(c.socket, "/tmp/x.sock");
  cr_assert_eq(c.max_frame, 4096);
  cr_assert_eq(c.log_level, SRV_LOG_DEBUG);
}

Test(config, help_and_version_are_recognised) {
  srv_config c;
  char err[512];
  cr_assert_eq(parse(&c, err, 2, "--help"), SRV_CONFIG_HELP);
  cr_assert_eq(parse(&c, err, 3, "--bogus", "--version"), SRV_CONFIG_VERSION);
}

Test(config, unknown_flag_missing_value_and_bad_number_are_errors) {
  srv_config c;
  char err[512];
  cr_assert_eq(parse(&c, err, 3, "--bogus", "1"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "--bogus"), "%s", err);
  cr_assert_eq(parse(&c, err, 2, "--socket"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "missing value"), "%s", err);
  cr_assert_eq(parse(&c, err, 3, "--max-frame", "12x"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "max-frame"), "%s", err);
  cr_assert_eq(parse(&c, err, 3, "--max-connections", "0"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "out of range"), "%s", err);
  cr_assert_eq(parse(&c, err, 3, "--max-value-depth", "33"), SRV_CONFIG_ERROR);
  cr_assert_eq(parse(&c, err, 3, "--log-level", "loud"), SRV_CONFIG_ERROR);
  cr_assert_eq(parse(&c, err, 2, "positional"), SRV_CONFIG_ERROR);
  cr_assert_eq(parse(&c, err, 3, "--max-frame", "-5"), SRV_CONFIG_ERROR);
  cr_assert_eq(parse(&c, err, 3, "--max-frame", "99999999999999999999999"), SRV_CONFIG_ERROR);
}

Test(config, config_file_sets_options_and_flags_override_it) {
  char *path = write_file("# pdpd config\n"
                          "socket = /tmp/from-file.sock   # trailing comment\n"
                          "\n"
                          "  max-connections=7\n"
                          "source = /srv/bundle\n");
  srv_config c;
  char err[512];
  cr_assert_eq(parse(&c, err, 5, "--max-connections", "9", "--config", path), SRV_CONFIG_RUN, "%s",
               err);
  cr_assert_str_eq(c.socket, "/tmp/from-file.sock");
  cr_assert_str_eq(c.source, "/srv/bundle");
  cr_assert_eq(c.max_connections, 9, "the flag wins over the file, wherever it appears");
  unlink(path);
}

Test(config, unknown_key_in_file_names_file_and_line) {
  char *path = write_file("socket = /tmp/a.sock\n# ok\nfrobnicate = 3\n");
  srv_config c;
  char err[512];
  cr_assert_eq(parse(&c, err, 3, "--config", path), SRV_CONFIG_ERROR);
  char want[128];
  snprintf(want, sizeof(want), "%s:3:", path);
  cr_assert(strstr(err, want), "%s", err);
  cr_assert(strstr(err, "frobnicate"), "%s", err);
  unlink(path);
}

Test(config, file_line_without_equals_and_missing_file_are_errors) {
  char *path = write_file("socket /tmp/a.sock\n");
  srv_config c;
  char err[512];
  cr_assert_eq(parse(&c, err, 3, "--config", path), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, ":1:"), "%s", err);
  unlink(path);
  cr_assert_eq(parse(&c, err, 3, "--config", "/nonexistent/pdpd.conf"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "/nonexistent/pdpd.conf"), "%s", err);
}

Test(config, durations_take_ms_s_m_h_and_a_bare_number_is_seconds) {
  const struct {
    const char *text;
    uint64_t ms;
  } good[] = {{"30s", 30000}, {"500ms", 500}, {"2m", 120000}, {"1h", 3600000},
              {"7", 7000},    {"0", 0},       {"0ms", 0}};
  for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
    uint64_t ms = 1;
    cr_assert(srv_parse_duration(good[i].text, &ms), "%s", good[i].text);
    cr_assert_eq(ms, good[i].ms, "%s", good[i].text);
  }
  const char *bad[] = {"",
                       "s",
                       "10x",
                       "-1",
                       "1.5s",
                       "5 s",
                       "10sec",
                       "1d",
                       "99999999999999999999",
                       "9999999999999999h"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    uint64_t ms = 42;
    cr_assert_not(srv_parse_duration(bad[i], &ms), "'%s' is not a duration", bad[i]);
    cr_assert_eq(ms, 42, "a failed parse leaves the value");
  }
}

Test(config, sizes_take_k_m_g_t_as_powers_of_1024) {
  const struct {
    const char *text;
    uint64_t bytes;
  } good[] = {{"1048576", 1048576},
              {"64K", 65536},
              {"512M", (uint64_t)512 << 20},
              {"2G", (uint64_t)2 << 30},
              {"1t", (uint64_t)1 << 40}};
  for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
    uint64_t b = 1;
    cr_assert(srv_parse_size(good[i].text, &b), "%s", good[i].text);
    cr_assert_eq(b, good[i].bytes, "%s", good[i].text);
  }
  const char *bad[] = {"", "G", "12MB", "1Q", "-1", "1.5G", "99999999999999999999", "17179869184G"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    uint64_t b = 42;
    cr_assert_not(srv_parse_size(bad[i], &b), "'%s' is not a size", bad[i]);
  }
}

Test(config, staleness_options_are_set_from_flags_and_file) {
  srv_config c;
  char err[512];
  cr_assert_eq(parse(&c, err, 8, "--check-interval", "500ms", "--max-staleness=2m", "--map-size",
                     "64M", "--watch", "false"),
               SRV_CONFIG_RUN, "%s", err);
  cr_assert_eq(c.check_interval_ms, 500);
  cr_assert_eq(c.max_staleness_ms, 120000);
  cr_assert_eq(c.map_size, (uint64_t)64 << 20);
  cr_assert_not(c.watch);
  char *path = write_file("check-interval = 2m\nmax-staleness = 1h\nwatch = yes\n");
  cr_assert_eq(parse(&c, err, 3, "--config", path), SRV_CONFIG_RUN, "%s", err);
  cr_assert_eq(c.check_interval_ms, 120000);
  cr_assert_eq(c.max_staleness_ms, 3600000);
  cr_assert(c.watch);
  unlink(path);
}

Test(config, bad_staleness_options_name_the_flag_and_the_range) {
  srv_config c;
  char err[512];
  cr_assert_eq(parse(&c, err, 3, "--check-interval", "5ms"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "--check-interval") && strstr(err, "out of range"), "%s", err);
  cr_assert_eq(parse(&c, err, 3, "--check-interval", "0"), SRV_CONFIG_ERROR);
  cr_assert_eq(parse(&c, err, 3, "--check-interval", "soon"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "not a duration"), "%s", err);
  cr_assert_eq(parse(&c, err, 3, "--map-size", "1K"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "--map-size") && strstr(err, "1M..1T"), "%s", err);
  cr_assert_eq(parse(&c, err, 3, "--map-size", "big"), SRV_CONFIG_ERROR);
  cr_assert_eq(parse(&c, err, 3, "--watch", "maybe"), SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "--watch"), "%s", err);
  cr_assert_eq(parse(&c, err, 3, "--max-staleness", "0"), SRV_CONFIG_RUN, "0 turns it off");
  /* a limit the poll cannot keep is refused whole, naming both options */
  cr_assert_eq(parse(&c, err, 5, "--check-interval", "1m", "--max-staleness", "30s"),
               SRV_CONFIG_ERROR);
  cr_assert(strstr(err, "--max-staleness") && strstr(err, "--check-interval"), "%s", err);
  cr_assert_eq(parse(&c, err, 3, "--max-staleness", "30s"), SRV_CONFIG_ERROR,
               "equal to the default interval is refused too");
  cr_assert_eq(parse(&c, err, 3, "--max-staleness", "31s"), SRV_CONFIG_RUN, "%s", err);
}
