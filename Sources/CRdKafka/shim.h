#ifndef SLUICE_CRDKAFKA_SHIM_H
#define SLUICE_CRDKAFKA_SHIM_H
#include <stdint.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>

/// rd_kafka_producev is variadic and its RD_KAFKA_V_* macros cannot be used from Swift: this produces one message
/// (value and key copied by librdkafka) with optional headers (ownership passes to librdkafka on success).
static inline rd_kafka_resp_err_t sluice_kafka_produce(rd_kafka_t *rk, const char *topic, const void *value,
                                                       size_t value_len, const void *key, size_t key_len,
                                                       rd_kafka_headers_t *headers, void *opaque) {
    if (headers != NULL) {
        return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_KEY(key, key_len),
                                 RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}
#endif
