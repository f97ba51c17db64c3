/* tests/tsan/criterion/criterion.h — a minimal stand-in for Criterion, used
 * only by `make tsan`: Criterion's process-inheritable arena cannot be set up
 * under ThreadSanitizer (Snaipe/Criterion#274), so the unit tests are built
 * against this header instead. It runs every Test() of a binary in one
 * process, in registration order, with the suite's and the test's .init and
 * .fini; a failed assertion prints where and why and exits 1 (so later
 * tests of that binary do not run). Supports the subset the tests use:
 * Test, TestSuite, cr_assert*, cr_skip_test, cr_log_*. Options ignored;
 * CR_TSAN_FILTER=substring runs only matching "suite/name" tests,
 * CR_TSAN_SKIP="suite/name,..." leaves tests out (timing bounds that the
 * sanitizer's slowdown cannot meet). */
#ifndef OBS_TSAN_CRITERION_H
#define OBS_TSAN_CRITERION_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cr_cfg {
	void (*init)(void);
	void (*fini)(void);
	double timeout;
	int disabled;
};

struct cr_test {
	const char *suite, *name;
	void (*fn)(void);
	struct cr_cfg cfg;
	struct cr_test *next;
};

struct cr_suite {
	const char *name;
	struct cr_cfg cfg;
	struct cr_suite *next;
};

static struct cr_test *cr_tests_, **cr_tests_tail_ = &cr_tests_;
static struct cr_suite *cr_suites_;
static const char *cr_current_;

#define Test(suite, name, ...)                                                            \
	static void suite##_##name##_fn(void);                                           \
	static struct cr_test suite##_##name##_t = { #suite, #name, suite##_##name##_fn, \
						      { __VA_ARGS__ }, NULL };           \
	__attribute__((constructor)) static void suite##_##name##_reg(void)              \
	{                                                                                 \
		*cr_tests_tail_ = &suite##_##name##_t;                                    \
		cr_tests_tail_ = &suite##_##name##_t.next;                                \
	}                                                                                 \
	static void suite##_##name##_fn(void)

#define TestSuite(suite, ...)                                                     \
	static struct cr_suite suite##_suite_ = { #suite, { __VA_ARGS__ }, NULL }; \
	__attribute__((constructor)) static void suite##_suite_reg(void)          \
	{                                                                         \
		suite##_suite_.next = cr_suites_;                                 \
		cr_suites_ = &suite##_suite_;                                     \
	}

#define cr_assert(cond, ...)                                                            \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "[FAIL] %s: %s:%d: %s: ", cr_current_, __FILE__, \
				__LINE__, #cond);                                       \
			fprintf(stderr, " " __VA_ARGS__);                               \
			fprintf(stderr, "\n");                                          \
			exit(1);                                                        \
		}                                                                       \
	} while (0)
#define cr_assert_op_(a, op, b, ...) cr_assert((a) op (b), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert_op_(a, ==, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert_op_(a, !=, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert_op_(a, >, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert_op_(a, >=, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert_op_(a, <, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert_op_(a, <=, b, __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) cr_assert(strcmp((a), (b)) != 0, __VA_ARGS__)
#define cr_assert_not(cond, ...) cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_fail(...) cr_assert(0, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...) \
	cr_assert((a) - (b) <= (eps) && (b) - (a) <= (eps), __VA_ARGS__)
/* expectations stop the test here too: fine for a race hunt */
#define cr_expect(cond, ...) cr_assert(cond, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) cr_assert_eq(a, b, __VA_ARGS__)
#define cr_expect_null(p, ...) cr_assert_null(p, __VA_ARGS__)
#define cr_expect_not_null(p, ...) cr_assert_not_null(p, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) cr_assert_str_eq(a, b, __VA_ARGS__)
#define cr_log_info(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#define cr_log_warn(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#define cr_skip_test(...)                                   \
	do {                                                \
		fprintf(stderr, "[SKIP] %s: ", cr_current_); \
		fprintf(stderr, " " __VA_ARGS__);           \
		fprintf(stderr, "\n");                      \
		return;                                     \
	} while (0)

int main(int argc, char **argv)
{
	const char *only = getenv("CR_TSAN_FILTER");   /* "suite/name" substring */
	const char *skip = getenv("CR_TSAN_SKIP");     /* "suite/name,..." (timing tests) */
	int n = 0;
	for (struct cr_test *t = cr_tests_; t; t = t->next) {
		char full[256];
		snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
		if (t->cfg.disabled || (only && !strstr(full, only)))
			continue;
		size_t fl = strlen(full);
		const char *hit = skip ? strstr(skip, full) : NULL;
		if (hit && (hit == skip || hit[-1] == ',') && (hit[fl] == 0 || hit[fl] == ',')) {
			fprintf(stderr, "[SKIP] %s (CR_TSAN_SKIP)\n", full);
			continue;
		}
		cr_current_ = full;
		struct cr_suite *s = cr_suites_;
		while (s && strcmp(s->name, t->suite))
			s = s->next;
		if (s && s->cfg.init)
			s->cfg.init();
		if (t->cfg.init)
			t->cfg.init();
		t->fn();
		if (t->cfg.fini)
			t->cfg.fini();
		if (s && s->cfg.fini)
			s->cfg.fini();
		fprintf(stderr, "[PASS] %s\n", full);
		n++;
	}
	fprintf(stderr, "tsan-criterion: %d tests passed\n", n);
	return 0;
}

#endif
