#ifndef SLUICE_RUBY_H
#define SLUICE_RUBY_H
// The C glue between Sluice and the embedded CRuby (libruby 3.1). Swift sees only this header, never ruby.h.
//
// Threading: `sluice_ruby_start` creates the one interpreter thread of the process; every other function here must
// be called on that thread (from the `serve` callback it runs, or from the event callback Ruby makes into Swift).
// No Ruby exception ever unwinds through a Swift frame: whatever can raise runs under rb_protect here, and the
// event callback reports errors by value, which the glue then raises on the Ruby side.
#include <stdint.h>
#include <stddef.h>

/// A Ruby VALUE, opaque to Swift.
typedef uintptr_t sluice_value;

/// What a Ruby `LogStash::Event` method asks of Swift (`sluice_event_callback`'s `op`).
enum sluice_event_op {
    SLUICE_EVENT_GET = 0,
    SLUICE_EVENT_SET = 1,
    SLUICE_EVENT_REMOVE = 2,
    SLUICE_EVENT_INCLUDE = 3,
    SLUICE_EVENT_TAG = 4,
    SLUICE_EVENT_CANCEL = 5,
    SLUICE_EVENT_UNCANCEL = 6,
    SLUICE_EVENT_CANCELLED = 7,
    SLUICE_EVENT_TO_HASH = 8,
    SLUICE_EVENT_TIMESTAMP = 9,
    SLUICE_EVENT_SPRINTF = 10,
    /// A deep copy of the event, as a new LogStash::Event that owns it (`sluice_rb_owned_event`).
    SLUICE_EVENT_CLONE = 11,
    SLUICE_EVENT_TO_HASH_WITH_METADATA = 12,
    /// No event: `a` and `b` are a timestamp's seconds and nanoseconds; returns its ISO-8601 text.
    SLUICE_TIMESTAMP_ISO8601 = 100,
    /// No event: `a` is a normalised Hash; returns a new LogStash::Event that owns the Swift event made from it.
    SLUICE_EVENT_NEW = 101,
    /// No event: `a` is an Integer (a logger's token × 8 + its level), `b` the message String; returns nil.
    SLUICE_LOG = 102,
};

/// Swift's handler of the Ruby event API: `event` is the handle given to `sluice_ruby_call_filter` (NULL for the
/// timestamp operations). Returns the result; on failure returns 0 and stores a Ruby String message in `*error`,
/// which the glue raises as a RuntimeError. Called on the interpreter thread, inside a Ruby method.
typedef sluice_value (*sluice_event_callback)(void *event, int op, sluice_value a, sluice_value b, sluice_value *error);

/// Releases a Swift event a LogStash::Event owned (one retain), when Ruby collects that object. Called on the
/// interpreter thread during garbage collection: it must not call into Ruby.
typedef void (*sluice_release_callback)(void *event);

/// Creates the interpreter thread (16 MiB stack): it sets Ruby up (ruby_setup + ruby_options, the full core), puts
/// back the signal dispositions Ruby changed, defines LogStash::Event, LogStash::Timestamp and the Sluice module's
/// primitives, then calls `serve(context, setup_error)` and never returns; `setup_error` is NULL when Ruby is ready.
/// Returns 0, or an errno when the thread cannot be created. Call once per process.
int sluice_ruby_start(void (*serve)(void *context, const char *setup_error), void *context, sluice_event_callback callback,
                      sluice_release_callback release);

/// Evaluates `code` with `self` = `receiver` (instance_eval; the top level when receiver is nil), file name `file`.
/// Returns 0 and the result in `*result`, or 1 and the exception in `*result`.
int sluice_ruby_eval(sluice_value receiver, const char *code, long length, const char *file, int line, sluice_value *result);

/// Calls `receiver.method(argument)` (a public method). Returns 0 and the result in `*result`, or 1 and the
/// exception in `*result`.
int sluice_ruby_call1(sluice_value receiver, const char *method, sluice_value argument, sluice_value *result);

/// A method name as a Ruby ID (a Symbol's identity), for `sluice_ruby_call_event`.
sluice_value sluice_ruby_intern(const char *name);

/// Calls `receiver.method(event)` where `event` is a new LogStash::Event bound to `handle` (borrowed: Swift keeps
/// ownership); the binding is cut after the call, so an event kept by the snippet raises when used later. While the
/// call runs, the watchdog thread raises Sluice::TimeoutError in it once it has run longer than `limit_ns`
/// (0: no limit). Returns 0 and the method's result in `*result`, or 1 and the exception in `*result`.
int sluice_ruby_call_event(sluice_value receiver, sluice_value method, void *handle, int64_t limit_ns, sluice_value *result);

/// An exception's class name and `to_s`, as Ruby Strings (never raises; placeholders when to_s itself raises).
void sluice_ruby_describe(sluice_value exception, sluice_value *class_name, sluice_value *message);

/// Keeps `value` alive for the life of the process (the filter objects).
void sluice_ruby_keep(sluice_value value);

/// Lets a value kept by `sluice_ruby_keep` be collected again (a filter closed by a reload or a stop).
void sluice_ruby_release(sluice_value value);

// Building Ruby values (used by Swift on the interpreter thread; they allocate but do not raise short of memory).
sluice_value sluice_rb_nil(void);
sluice_value sluice_rb_bool(int truth);
sluice_value sluice_rb_int64(int64_t value);
/// An Integer from decimal text (an optional '-' and digits).
sluice_value sluice_rb_integer_text(const char *text);
sluice_value sluice_rb_float(double value);
sluice_value sluice_rb_utf8(const char *bytes, long length);
sluice_value sluice_rb_array(long capacity);
void sluice_rb_array_push(sluice_value array, sluice_value element);
sluice_value sluice_rb_hash(void);
void sluice_rb_hash_set(sluice_value hash, sluice_value key, sluice_value value);
sluice_value sluice_rb_timestamp(int64_t seconds, int32_t nanoseconds);
/// A new LogStash::Event that owns `retained_event` (a Swift event retained once for it; released by the release
/// callback when Ruby collects the object, unless Swift takes it back first with `sluice_rb_event_take`).
sluice_value sluice_rb_owned_event(void *retained_event);
/// The Swift event of a LogStash::Event, or NULL (not an event, or no longer bound; the event of the last
/// `sluice_ruby_call_event` is still recognised, with its handle). When the object owned it, the
/// object gives it up: `*owned` is 1 and the caller now holds its retain; the object is unbound.
void *sluice_rb_event_take(sluice_value value, int *owned);

/// The kinds of Ruby value Swift converts (`sluice_rb_kind`); values are normalised in Ruby first.
enum sluice_rb_kind {
    SLUICE_RB_OTHER = 0, SLUICE_RB_NIL, SLUICE_RB_TRUE, SLUICE_RB_FALSE, SLUICE_RB_INTEGER, SLUICE_RB_FLOAT,
    SLUICE_RB_STRING, SLUICE_RB_ARRAY, SLUICE_RB_HASH, SLUICE_RB_TIMESTAMP, SLUICE_RB_BIGDECIMAL, SLUICE_RB_EVENT,
};
int sluice_rb_kind(sluice_value value);
/// Whether an Integer fits in 64 bits; stores it in `*out` when it does.
int sluice_rb_integer_int64(sluice_value value, int64_t *out);
/// An Integer's (or BigDecimal's, as plain digits) decimal text, as a Ruby String.
sluice_value sluice_rb_number_text(sluice_value value);
double sluice_rb_float_value(sluice_value value);
const char *sluice_rb_string_bytes(sluice_value value);
long sluice_rb_string_length(sluice_value value);
long sluice_rb_array_length(sluice_value value);
sluice_value sluice_rb_array_at(sluice_value value, long index);
/// A Hash's keys and values as one flat Array [k0, v0, k1, v1, …] (keys are Strings after normalisation).
sluice_value sluice_rb_hash_pairs(sluice_value value);
/// A LogStash::Timestamp's seconds and nanoseconds.
void sluice_rb_timestamp_parts(sluice_value value, int64_t *seconds, int32_t *nanoseconds);

#endif
