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
