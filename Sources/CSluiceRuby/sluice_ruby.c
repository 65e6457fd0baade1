// The C glue between Sluice and the embedded CRuby; see include/sluice_ruby.h for the threading rules.
#define _GNU_SOURCE 1
#include "sluice_ruby.h"
#include <ruby.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

static sluice_event_callback event_callback;
static sluice_release_callback release_callback;
static VALUE keep_alive = Qnil;
static VALUE event_class = Qnil;
static VALUE timestamp_class = Qnil;
static VALUE bigdecimal_class = Qnil;
static ID id_instance_eval, id_to_s, id_sec, id_nsec, id_name, id_raise;
static VALUE main_thread = Qnil;

// ---------------------------------------------------------------------------------------------------------------
// LogStash::Event: a Ruby object holding the Swift event handle for the length of one filter call.

// Borrowed: the event a filter call runs on; Swift owns it and the object is unbound after the call.
static const rb_data_type_t event_handle_type = {
    "Sluice::EventHandle", {NULL, NULL, NULL}, NULL, NULL, RUBY_TYPED_FREE_IMMEDIATELY,
};

// Owned: an event made in Ruby (LogStash::Event.new, clone); the object holds one retain of the Swift event until
// Swift takes it back (`sluice_rb_event_take`) or Ruby collects the object.
static void owned_event_free(void *handle) {
    if (handle != NULL) release_callback(handle);
}
static const rb_data_type_t owned_event_type = {
    "Sluice::OwnedEvent", {NULL, owned_event_free, NULL}, NULL, NULL, RUBY_TYPED_FREE_IMMEDIATELY,
};

static VALUE event_alloc(VALUE klass) { return TypedData_Wrap_Struct(klass, &event_handle_type, NULL); }

sluice_value sluice_rb_owned_event(void *retained_event) {
    return (sluice_value)TypedData_Wrap_Struct(event_class, &owned_event_type, retained_event);
}

// The event object of the last `sluice_ruby_call_event` and its handle: the call unbinds it, but its result may
// still name it (a script's `filter` returns the original), which `sluice_rb_event_take` then recognises.
static VALUE last_event = Qnil;
static void *last_handle = NULL;

void *sluice_rb_event_take(sluice_value raw, int *owned) {
    VALUE value = (VALUE)raw;
    *owned = 0;
    if (value == last_event) return last_handle;
    if (RB_SPECIAL_CONST_P(value) || rb_obj_class(value) != event_class) return NULL;
    void *handle = RTYPEDDATA_DATA(value);
    if (handle != NULL && RTYPEDDATA_TYPE(value) == &owned_event_type) {
        *owned = 1;
        RTYPEDDATA_DATA(value) = NULL;
    }
    return handle;
}

// event.__op(op, a, b): the one primitive the Ruby-side methods (the prelude) are written on.
static VALUE event_op(VALUE self, VALUE op, VALUE a, VALUE b) {
    void *handle = RTYPEDDATA_DATA(self);
    int code = NUM2INT(op);
    if (handle == NULL && code < SLUICE_TIMESTAMP_ISO8601) {
        rb_raise(rb_eRuntimeError, "this event is no longer in the ruby filter (events cannot be kept across calls)");
    }
    VALUE error = Qnil;
    VALUE result = (VALUE)event_callback(handle, code, (sluice_value)a, (sluice_value)b, (sluice_value *)&error);
    if (!NIL_P(error)) rb_exc_raise(rb_exc_new_str(rb_eRuntimeError, error));
    return result;
}

// The operations that need no event: the callback, with errors raised on the Ruby side.
static VALUE eventless_op(int code, VALUE a, VALUE b) {
    VALUE error = Qnil;
    VALUE result = (VALUE)event_callback(NULL, code, (sluice_value)a, (sluice_value)b, (sluice_value *)&error);
    if (!NIL_P(error)) rb_exc_raise(rb_exc_new_str(rb_eRuntimeError, error));
    return result;
}

// LogStash::Timestamp.__iso8601(sec, nsec), formatted by Sluice as everywhere else.
static VALUE timestamp_iso8601(VALUE klass, VALUE sec, VALUE nsec) { return eventless_op(SLUICE_TIMESTAMP_ISO8601, sec, nsec); }

// LogStash::Event.__build(hash): a new event owned by the Ruby object returned.
static VALUE event_build(VALUE klass, VALUE hash) { return eventless_op(SLUICE_EVENT_NEW, hash, Qnil); }

// Sluice.__log(token_and_level, message): a line in Sluice's log, under the filter's pipeline and plugin id.
static VALUE sluice_log(VALUE module, VALUE code, VALUE message) { return eventless_op(SLUICE_LOG, code, message); }

// ---------------------------------------------------------------------------------------------------------------
// The watchdog: a Ruby thread (started by the prelude) calls Sluice.__watch every few milliseconds; when the filter
// call running on the main Ruby thread has run past its limit, it raises Sluice::TimeoutError in it. The state is
// only touched with the GVL held, so it needs no lock.

static int64_t call_started_ns = 0;  // 0: no filter call is running
static int64_t call_limit_ns = 0;
static int watchdog_fired = 0;

static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static VALUE sluice_watch(VALUE module) {
    if (call_started_ns == 0 || call_limit_ns <= 0 || monotonic_ns() - call_started_ns <= call_limit_ns) return Qfalse;
    VALUE error_class = rb_const_get(module, rb_intern("TimeoutError"));
    char message[128];
    snprintf(message, sizeof message, "the ruby code ran longer than the filter's timeout (%.3gs)", (double)call_limit_ns / 1e9);
    watchdog_fired = 1;
    rb_funcall(main_thread, id_raise, 2, error_class, rb_str_new_cstr(message));
    return Qtrue;
}

// ---------------------------------------------------------------------------------------------------------------
// The interpreter thread.

struct start_args {
    void (*serve)(void *, const char *);
    void *context;
};

// The signals Ruby's Init_signal installs handlers for; Sluice's own dispositions (sigwait for INT/TERM/HUP, the
// Swift runtime's crash handlers) are put back after setup, so that Ruby never decides what a signal does.
static const int restored_signals[] = {SIGINT, SIGHUP, SIGQUIT, SIGTERM, SIGALRM, SIGUSR1, SIGUSR2,
                                       SIGBUS, SIGILL, SIGSEGV, SIGPIPE, SIGSYS};
#define RESTORED_COUNT (sizeof(restored_signals) / sizeof(restored_signals[0]))

static void *interpreter_main(void *raw) {
    struct start_args args = *(struct start_args *)raw;
    free(raw);
    // Named, so that a pipeline without a ruby filter can be seen not to have started it (/proc/<pid>/task/*/comm).
    pthread_setname_np(pthread_self(), "sluice-ruby");
    RUBY_INIT_STACK;

    struct sigaction saved[RESTORED_COUNT];
    for (size_t i = 0; i < RESTORED_COUNT; i++) sigaction(restored_signals[i], NULL, &saved[i]);
    sigset_t saved_mask;
    pthread_sigmask(SIG_SETMASK, NULL, &saved_mask);

    const char *error = NULL;
    if (ruby_setup() != 0) {
        error = "ruby_setup failed";
    } else {
        // ruby_options, not only ruby_setup: it loads the rest of the core (encodings, rubygems, the load path)
        // that `require 'json'` and `require 'time'` need. The empty -e program is compiled, never run.
        static char arg0[] = "sluice", arg1[] = "-e", arg2[] = "";
        char *argv[] = {arg0, arg1, arg2, NULL};
        void *node = ruby_options(3, argv);
        int status = 0;
        if (!ruby_executable_node(node, &status)) error = "ruby_options failed (the Ruby core could not be loaded)";
    }
    for (size_t i = 0; i < RESTORED_COUNT; i++) sigaction(restored_signals[i], &saved[i], NULL);
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);

    if (error == NULL) {
        keep_alive = rb_ary_new();
        rb_gc_register_address(&keep_alive);
        id_raise = rb_intern("raise");
        main_thread = rb_thread_main();
        rb_gc_register_address(&main_thread);
        rb_gc_register_address(&last_event);
        id_instance_eval = rb_intern("instance_eval");
        id_to_s = rb_intern("to_s");
        id_sec = rb_intern("@sec");
        id_nsec = rb_intern("@nsec");
        id_name = rb_intern("name");
        VALUE logstash = rb_define_module("LogStash");
        event_class = rb_define_class_under(logstash, "Event", rb_cObject);
        rb_gc_register_address(&event_class);
        rb_define_alloc_func(event_class, event_alloc);
        rb_define_private_method(event_class, "__op", event_op, 3);
        rb_define_singleton_method(event_class, "__build", event_build, 1);
        VALUE sluice = rb_define_module("Sluice");
        rb_define_singleton_method(sluice, "__log", sluice_log, 2);
        rb_define_singleton_method(sluice, "__watch", sluice_watch, 0);
        timestamp_class = rb_define_class_under(logstash, "Timestamp", rb_cObject);
        rb_gc_register_address(&timestamp_class);
        rb_define_singleton_method(timestamp_class, "__iso8601", timestamp_iso8601, 2);
        rb_gc_register_address(&bigdecimal_class);
    }
    args.serve(args.context, error);
    return NULL;
}

int sluice_ruby_start(void (*serve)(void *, const char *), void *context, sluice_event_callback callback,
                      sluice_release_callback release) {
    event_callback = callback;
    release_callback = release;
    struct start_args *args = malloc(sizeof *args);
    if (args == NULL) return ENOMEM;
    args->serve = serve;
    args->context = context;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 16 << 20);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, interpreter_main, args);
    pthread_attr_destroy(&attr);
    if (rc != 0) free(args);
    return rc;
}

// ---------------------------------------------------------------------------------------------------------------
// Protected calls.

struct eval_args {
    VALUE receiver;
    VALUE code;
    VALUE file;
    int line;
};

static VALUE do_eval(VALUE raw) {
    struct eval_args *args = (struct eval_args *)raw;
    if (NIL_P(args->receiver)) {
        return rb_funcall(rb_mKernel, rb_intern("eval"), 4, args->code, rb_const_get(rb_cObject, rb_intern("TOPLEVEL_BINDING")),
                          args->file, INT2FIX(args->line));
    }
    return rb_funcall(args->receiver, id_instance_eval, 3, args->code, args->file, INT2FIX(args->line));
}

// After a protected call failed: the exception, with the thread's error state cleared.
static VALUE take_exception(void) {
    VALUE exception = rb_errinfo();
    rb_set_errinfo(Qnil);
    // A `throw` without a matching `catch`, or a `break` out of nowhere, leaves no exception object.
    if (NIL_P(exception)) exception = rb_exc_new_cstr(rb_eRuntimeError, "the ruby code ended abnormally (throw/break)");
    return exception;
}

int sluice_ruby_eval(sluice_value receiver, const char *code, long length, const char *file, int line, sluice_value *result) {
    struct eval_args args = {(VALUE)receiver, rb_utf8_str_new(code, length), rb_str_new_cstr(file), line};
    int state = 0;
    VALUE value = rb_protect(do_eval, (VALUE)&args, &state);
    RB_GC_GUARD(args.code);
    RB_GC_GUARD(args.file);
    if (state) {
        *result = (sluice_value)take_exception();
        return 1;
    }
    *result = (sluice_value)value;
    return 0;
}

struct call_args {
    VALUE receiver;
    ID method;
    VALUE argument;
};

static VALUE do_call1(VALUE raw) {
    struct call_args *args = (struct call_args *)raw;
    return rb_funcall(args->receiver, args->method, 1, args->argument);
}

int sluice_ruby_call1(sluice_value receiver, const char *method, sluice_value argument, sluice_value *result) {
    struct call_args args = {(VALUE)receiver, rb_intern(method), (VALUE)argument};
    int state = 0;
    VALUE value = rb_protect(do_call1, (VALUE)&args, &state);
    if (state) {
        *result = (sluice_value)take_exception();
        return 1;
    }
    *result = (sluice_value)value;
    return 0;
}

sluice_value sluice_ruby_intern(const char *name) { return (sluice_value)rb_intern(name); }

struct event_call_args {
    VALUE receiver;
    ID method;
    VALUE event;
};

static VALUE do_event_call(VALUE raw) {
    struct event_call_args *args = (struct event_call_args *)raw;
    return rb_funcall(args->receiver, args->method, 1, args->event);
}

static VALUE do_check_interrupts(VALUE unused) {
    rb_thread_check_ints();
    return Qnil;
}

int sluice_ruby_call_event(sluice_value receiver, sluice_value method, void *handle, int64_t limit_ns, sluice_value *result) {
    VALUE event = rb_obj_alloc(event_class);
    RTYPEDDATA_DATA(event) = handle;
    struct event_call_args args = {(VALUE)receiver, (ID)method, event};
    int state = 0;
    call_limit_ns = limit_ns;
    call_started_ns = limit_ns > 0 ? monotonic_ns() : 0;
    VALUE value = rb_protect(do_event_call, (VALUE)&args, &state);
    call_started_ns = 0;
    RTYPEDDATA_DATA(event) = NULL;
    last_event = event;
    last_handle = handle;
    if (state) value = take_exception();
    if (watchdog_fired) {
        // A timeout raised as the call was ending may still be pending: deliver it here, not in the next call.
        watchdog_fired = 0;
        int ignored = 0;
        rb_protect(do_check_interrupts, Qnil, &ignored);
        if (ignored) rb_set_errinfo(Qnil);
    }
    *result = (sluice_value)value;
    return state ? 1 : 0;
}

static VALUE do_to_s(VALUE value) { return rb_obj_as_string(value); }
static VALUE do_class_name(VALUE value) { return rb_class_name(rb_obj_class(value)); }

void sluice_ruby_describe(sluice_value exception, sluice_value *class_name, sluice_value *message) {
    int state = 0;
    VALUE name = rb_protect(do_class_name, (VALUE)exception, &state);
    if (state || !RB_TYPE_P(name, T_STRING)) {
        rb_set_errinfo(Qnil);
        name = rb_str_new_cstr("Exception");
    }
    state = 0;
    VALUE text = rb_protect(do_to_s, (VALUE)exception, &state);
    if (state || !RB_TYPE_P(text, T_STRING)) {
        rb_set_errinfo(Qnil);
        text = rb_str_new_cstr("(the exception's message could not be read)");
    }
    *class_name = (sluice_value)name;
    *message = (sluice_value)text;
}

void sluice_ruby_keep(sluice_value value) { rb_ary_push(keep_alive, (VALUE)value); }

// rb_ary_delete compares with ==, which a snippet could redefine on its `self`: compare identities here instead.
void sluice_ruby_release(sluice_value value) {
    for (long i = RARRAY_LEN(keep_alive) - 1; i >= 0; i--) {
        if (rb_ary_entry(keep_alive, i) == (VALUE)value) {
            rb_ary_delete_at(keep_alive, i);
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Values.

sluice_value sluice_rb_nil(void) { return (sluice_value)Qnil; }
sluice_value sluice_rb_bool(int truth) { return (sluice_value)(truth ? Qtrue : Qfalse); }
sluice_value sluice_rb_int64(int64_t value) { return (sluice_value)LL2NUM(value); }
sluice_value sluice_rb_integer_text(const char *text) { return (sluice_value)rb_cstr2inum(text, 10); }
sluice_value sluice_rb_float(double value) { return (sluice_value)DBL2NUM(value); }
sluice_value sluice_rb_utf8(const char *bytes, long length) { return (sluice_value)rb_utf8_str_new(bytes, length); }
sluice_value sluice_rb_array(long capacity) { return (sluice_value)rb_ary_new_capa(capacity); }
void sluice_rb_array_push(sluice_value array, sluice_value element) { rb_ary_push((VALUE)array, (VALUE)element); }
sluice_value sluice_rb_hash(void) { return (sluice_value)rb_hash_new(); }
void sluice_rb_hash_set(sluice_value hash, sluice_value key, sluice_value value) {
    rb_hash_aset((VALUE)hash, (VALUE)key, (VALUE)value);
}

sluice_value sluice_rb_timestamp(int64_t seconds, int32_t nanoseconds) {
    VALUE timestamp = rb_obj_alloc(timestamp_class);
    rb_ivar_set(timestamp, id_sec, LL2NUM(seconds));
    rb_ivar_set(timestamp, id_nsec, INT2NUM(nanoseconds));
    return (sluice_value)timestamp;
}

int sluice_rb_kind(sluice_value raw) {
    VALUE value = (VALUE)raw;
    if (NIL_P(value)) return SLUICE_RB_NIL;
    if (value == Qtrue) return SLUICE_RB_TRUE;
    if (value == Qfalse) return SLUICE_RB_FALSE;
    if (RB_INTEGER_TYPE_P(value)) return SLUICE_RB_INTEGER;
    if (RB_FLOAT_TYPE_P(value)) return SLUICE_RB_FLOAT;
    if (RB_TYPE_P(value, T_STRING)) return SLUICE_RB_STRING;
    if (RB_TYPE_P(value, T_ARRAY)) return SLUICE_RB_ARRAY;
    if (RB_TYPE_P(value, T_HASH)) return SLUICE_RB_HASH;
    if (rb_obj_class(value) == timestamp_class) return SLUICE_RB_TIMESTAMP;
    if (NIL_P(bigdecimal_class) && rb_const_defined(rb_cObject, rb_intern("BigDecimal"))) {
        bigdecimal_class = rb_const_get(rb_cObject, rb_intern("BigDecimal"));
    }
    if (!NIL_P(bigdecimal_class) && rb_obj_class(value) == bigdecimal_class) return SLUICE_RB_BIGDECIMAL;
    if (rb_obj_class(value) == event_class) return SLUICE_RB_EVENT;
    return SLUICE_RB_OTHER;
}

int sluice_rb_integer_int64(sluice_value raw, int64_t *out) {
    VALUE value = (VALUE)raw;
    if (!FIXNUM_P(value)) return 0;  // a Bignum: Swift reads its text (and still makes an Int when it fits)
    *out = (int64_t)FIX2LONG(value);
    return 1;
}

sluice_value sluice_rb_number_text(sluice_value raw) {
    VALUE value = (VALUE)raw;
    if (RB_INTEGER_TYPE_P(value)) return (sluice_value)(FIXNUM_P(value) ? rb_fix2str(value, 10) : rb_big2str(value, 10));
    // BigDecimal#to_s("F"): plain digits, no exponent (never raises for a finite BigDecimal).
    return (sluice_value)rb_funcall(value, id_to_s, 1, rb_str_new_cstr("F"));
}

double sluice_rb_float_value(sluice_value value) { return rb_float_value((VALUE)value); }
const char *sluice_rb_string_bytes(sluice_value value) { return RSTRING_PTR((VALUE)value); }
long sluice_rb_string_length(sluice_value value) { return RSTRING_LEN((VALUE)value); }
long sluice_rb_array_length(sluice_value value) { return RARRAY_LEN((VALUE)value); }
sluice_value sluice_rb_array_at(sluice_value value, long index) { return (sluice_value)rb_ary_entry((VALUE)value, index); }

static int collect_pair(VALUE key, VALUE value, VALUE pairs) {
    rb_ary_push(pairs, key);
    rb_ary_push(pairs, value);
    return ST_CONTINUE;
}

sluice_value sluice_rb_hash_pairs(sluice_value value) {
    VALUE pairs = rb_ary_new_capa(RHASH_SIZE((VALUE)value) * 2);
    rb_hash_foreach((VALUE)value, collect_pair, pairs);
    return (sluice_value)pairs;
}

void sluice_rb_timestamp_parts(sluice_value raw, int64_t *seconds, int32_t *nanoseconds) {
    VALUE sec = rb_ivar_get((VALUE)raw, id_sec), nsec = rb_ivar_get((VALUE)raw, id_nsec);
    *seconds = FIXNUM_P(sec) ? (int64_t)FIX2LONG(sec) : 0;
    *nanoseconds = FIXNUM_P(nsec) ? (int32_t)FIX2LONG(nsec) : 0;
}
