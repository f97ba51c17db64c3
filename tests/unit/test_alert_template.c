/* test_alert_template.c — Prometheus alert templates (lib/alert/template.h):
 * variables and fields, Go's value printing, the humanize family, printf,
 * string helpers, control structures, trimming, query | first | value,
 * and Go's parse and execution error texts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alert/template.h"

static struct obs_labels lbl, ext;
static struct obs_query_mem *mem;
static struct obs_query_store store;

static void setup(void)
{
	const char *why;
	const char *t = "{__name__=\"up\",instance=\"h1:9100\",job=\"node\"}";
	cr_assert_eq(obs_labels_parse(t, strlen(t), &lbl, &why), 0);
	t = "{cluster=\"eu1\"}";
	cr_assert_eq(obs_labels_parse(t, strlen(t), &ext, &why), 0);
	mem = obs_query_mem_new();
	store = obs_query_mem_store(mem);
	struct obs_labels s;
	t = "{__name__=\"disk_free\",mount=\"/\"}";
	cr_assert_eq(obs_labels_parse(t, strlen(t), &s, &why), 0);
	cr_assert_eq(obs_query_mem_add(mem, &s, 1000, 0.25), 0);
	obs_labels_release(&s);
}

static void teardown(void)
{
	obs_labels_release(&lbl);
	obs_labels_release(&ext);
	obs_query_mem_free(mem);
}

/* expand text with $value v; returns the rc, output in *out (static) */
static int ex(const char *text, double v, const char **out)
{
	static char res[1024];
	struct obs_tmpl_data d = { .labels = &lbl, .external_labels = &ext, .external_url = "http://am:9093/x",
				   .value = v, .now_ms = 60000, .store = &store };
	struct obs_tmpl *t;
	char err[512];
	int r = obs_tmpl_parse("__alert_Test", text, strlen(text), &t, err, sizeof err);
	if (r == 0) {
		struct obs_buf b;
		obs_buf_init(&b);
		r = obs_tmpl_expand(t, &d, &b, err, sizeof err);
		snprintf(res, sizeof res, "%s", r ? err : (b.data ? b.data : ""));
		obs_buf_release(&b);
		obs_tmpl_free(t);
	} else {
		snprintf(res, sizeof res, "%s", err);
	}
	*out = res;
	return r;
}

#define EXPECT(text, v, want)                                                   \
	do {                                                                    \
		const char *o_;                                                 \
		cr_expect_eq(ex(text, v, &o_), 0, "%s: %s", text, o_);          \
		cr_expect_str_eq(o_, want, "%s", text);                         \
	} while (0)

#define EXPECT_ERR(text, v, want)                                               \
	do {                                                                    \
		const char *o_;                                                 \
		cr_expect_eq(ex(text, v, &o_), -EINVAL, "%s", text);            \
		cr_expect_str_eq(o_, want, "%s", text);                         \
	} while (0)

TestSuite(alert_template, .init = setup, .fini = teardown);

Test(alert_template, variables_and_fields)
{
	EXPECT("Instance {{ $labels.instance }} down", 0, "Instance h1:9100 down");
	EXPECT("{{ .Labels.job }}/{{ $externalLabels.cluster }}", 0, "node/eu1");
	EXPECT("{{ $externalURL }} {{ .ExternalURL }}", 0, "http://am:9093/x http://am:9093/x");
	EXPECT("{{ $labels.missing }}", 0, "<no value>");
	EXPECT("no actions at all", 0, "no actions at all");
	EXPECT("{{ $x := 3 }}{{ $x }}{{ $x = \"s\" }}{{ $x }}", 0, "3s");
}

Test(alert_template, go_value_printing)
{
	EXPECT("{{ $value }}", 1e6, "1e+06");
	EXPECT("{{ $value }}", 123456, "123456");
	EXPECT("{{ .Value }}", 0.5, "0.5");
	EXPECT("{{ $value }}", 0.00001, "1e-05");
	EXPECT("{{ $value }}", 1.0 / 3, "0.3333333333333333");
	EXPECT("{{ $value }}", -2, "-2");
	EXPECT("{{ print 1 2 \"a\" \"b\" 3 }}", 0, "1 2ab3");
}

Test(alert_template, humanize_family)
{
	EXPECT("{{ humanize 1234567 }}", 0, "1.235M");
	EXPECT("{{ $value | humanize }}", 0.001234, "1.234m");
	EXPECT("{{ humanize 0 }}", 0, "0");
	EXPECT("{{ humanize \"2048\" }}", 0, "2.048k");
	EXPECT("{{ humanize1024 1048576 }}", 0, "1Mi");
	EXPECT("{{ humanize1024 512 }}", 0, "512");
	EXPECT("{{ humanizeDuration 3661 }}", 0, "1h 1m 1s");
	EXPECT("{{ humanizeDuration 90061 }}", 0, "1d 1h 1m 1s");
	EXPECT("{{ humanizeDuration 0.5 }}", 0, "500ms");
	EXPECT("{{ humanizeDuration 12.5 }}", 0, "12.5s");
	EXPECT("{{ humanizePercentage 0.1234 }}", 0, "12.34%");
	EXPECT("{{ humanizeTimestamp 1435065584.128 }}", 0, "2015-06-23 13:19:44.128 +0000 UTC");
	EXPECT("{{ humanizeTimestamp 0 }}", 0, "1970-01-01 00:00:00 +0000 UTC");
	EXPECT_ERR("{{ humanize \"x\" }}", 0,
		   "template: __alert_Test:1:115: executing \"__alert_Test\" at <humanize \"x\">: "
		   "error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax");
}

Test(alert_template, printf_and_strings)
{
	EXPECT("{{ printf \"%.2f\" $value }}", 3.14159, "3.14");
	EXPECT("{{ printf \"%d items, %s\" 3 \"ok\" }}", 0, "3 items, ok");
	EXPECT("{{ printf \"%d\" $value }}", 1.5, "%!d(float64=1.5)");
	EXPECT("{{ printf \"%s %s\" \"a\" }}", 0, "a %!s(MISSING)");
	EXPECT("{{ printf \"%5.1f%%\" 12.345 }}", 0, " 12.3%");
	/* a precision or width past INT_MAX is capped, not a printf failure */
	EXPECT("{{ printf \"%.21111111111111111111s|%-3.1s|\" \"x\" \"yz\" }}", 0, "x|y  |");
	EXPECT("{{ printf \"%q\" \"a\\\"b\" }}", 0, "\"a\\\"b\"");
	EXPECT("{{ \"abc\" | toUpper }} {{ toLower \"ABC\" }} {{ title \"hello wide world\" }}", 0,
	       "ABC abc Hello Wide World");
	EXPECT("{{ $labels.instance | stripPort }}", 0, "h1");
	EXPECT("{{ stripDomain \"db1.example.com:5432\" }}", 0, "db1:5432");
	EXPECT("{{ reReplaceAll \"(.*):(.*)\" \"$2/$1\" $labels.instance }}", 0, "9100/h1");
	EXPECT("{{ if match \"^h[0-9]\" .Labels.instance }}yes{{ end }}", 0, "yes");
	EXPECT("{{ parseDuration \"1m30s\" }}", 0, "90");
	EXPECT("{{ len $labels }} {{ index $labels \"job\" }}", 0, "3 node");
}

Test(alert_template, control_structures)
{
	EXPECT("{{ if gt $value 80.0 }}critical{{ else if gt $value 50.0 }}warning{{ else }}ok{{ end }}", 90,
	       "critical");
	EXPECT("{{ if gt $value 80.0 }}critical{{ else if gt $value 50.0 }}warning{{ else }}ok{{ end }}", 60,
	       "warning");
	EXPECT("{{ if gt $value 80.0 }}critical{{ else if gt $value 50.0 }}warning{{ else }}ok{{ end }}", 10, "ok");
	EXPECT("{{ if eq $labels.job \"node\" \"x\" }}A{{ end }}{{ if ne .Labels.job \"node\" }}B{{ end }}", 0, "A");
	EXPECT("{{ if and (lt $value 5.0) (not (eq $labels.job \"x\")) }}both{{ end }}", 1, "both");
	EXPECT("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 0,
	       "__name__=up;instance=h1:9100;job=node;");
	EXPECT("{{ with $labels.job }}job {{ . }}{{ end }}", 0, "job node");
	EXPECT("a  {{- 1 -}}  b {{/* a comment */}}c", 0, "a1b c");
	EXPECT_ERR("{{ if gt $value 1 }}x{{ end }}", 2,
		   "template: __alert_Test:1:118: executing \"__alert_Test\" at <gt $value 1>: "
		   "error calling lt: incompatible types for comparison");
}

Test(alert_template, query_first_value)
{
	EXPECT("{{ query \"disk_free\" | first | value | humanizePercentage }}", 0, "25%");
	EXPECT("{{ with query \"disk_free\" }}{{ . | first | label \"mount\" }}{{ end }}", 0, "/");
	EXPECT("{{ range query \"disk_free\" }}{{ .Labels.mount }} {{ .Value }}{{ end }}", 0, "/ 0.25");
	EXPECT("{{ with query \"nothing_here\" }}{{ . }}{{ else }}none{{ end }}", 0, "none");
	const char *o;
	cr_expect_eq(ex("{{ query \"nothing\" | first }}", 0, &o), -EINVAL);
	cr_expect(strstr(o, "first() called on vector with no elements"), "%s", o);
}

Test(alert_template, parse_errors_like_go)
{
	EXPECT_ERR("{{ humanizeFoo 3 }}", 0, "template: __alert_Test:1: function \"humanizeFoo\" not defined");
	EXPECT_ERR("{{ if }}x{{ end }}", 0, "template: __alert_Test:1: missing value for if");
	EXPECT_ERR("{{ $labels.x ", 0, "template: __alert_Test:1: unclosed action");
	EXPECT_ERR("{{ if true }}x", 0, "template: __alert_Test:1: unexpected EOF");
	EXPECT_ERR("x{{ end }}", 0, "template: __alert_Test:1: unexpected {{end}}");
	EXPECT_ERR("a\n{{ $nope }}", 0, "template: __alert_Test:2: undefined variable \"$nope\"");
	EXPECT_ERR("{{ \"abc }}", 0, "template: __alert_Test:1: unterminated quoted string");
}

Test(alert_template, expand_text_reports_like_prometheus)
{
	struct obs_tmpl_data d = { .labels = &lbl, .value = 1 };
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_tmpl_expand_text("__alert_A", "{{ nosuch }}", &d, &b), -EINVAL);
	cr_expect_str_eq(b.data, "<error expanding template: template: __alert_A:1: function \"nosuch\" not defined>");
	obs_buf_release(&b);
}
